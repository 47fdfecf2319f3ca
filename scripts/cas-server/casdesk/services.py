"""Lets any loopback service sign people in, with every attribute and
single logout: run once after the migrations."""
from cas_server.models import ReplaceAttributName, ServicePattern

pattern, _ = ServicePattern.objects.get_or_create(
    name="guichet-tests",
    defaults={"pos": 1, "pattern": r"^https?://(127\.0\.0\.1|localhost)(:\d+)?/.*", "single_log_out": True},
)
ReplaceAttributName.objects.get_or_create(name="*", replace="", service_pattern=pattern)
