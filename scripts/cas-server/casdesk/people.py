"""People of the test CAS server: $CAS_DATA_DIR/users/<username>.json holds
{"password": "...", "attributes": {"mail": "...", "profile": ["..."]}}, read
at each sign-in."""
import json
import os

from cas_server.auth import AuthUser


class JsonFileUser(AuthUser):
    def __init__(self, username):
        self.record = None
        if username and "/" not in username and not username.startswith("."):
            path = os.path.join(os.environ["CAS_DATA_DIR"], "users", f"{username}.json")
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    self.record = json.load(f)
        super().__init__(username)

    def test_password(self, password):
        return self.record is not None and password == self.record.get("password")

    def attributs(self):
        return dict(self.record.get("attributes", {})) if self.record else {}
