-- Who is on duty: a person per local date and part of the day ('day' covers both halves).
CREATE TABLE duty_slots (
    day TEXT NOT NULL,
    part TEXT NOT NULL CONSTRAINT duty_slots_part_check CHECK (part IN ('day', 'morning', 'afternoon')),
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (day, part, user_id)
);
CREATE INDEX duty_slots_user_idx ON duty_slots (user_id);
