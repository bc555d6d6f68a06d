-- Jobs that one replica at a time should do (the sweeper): whoever moves `until` forward
-- past now holds the job until then.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    until BIGINT NOT NULL
);
