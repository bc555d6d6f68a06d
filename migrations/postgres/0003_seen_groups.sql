-- Groups seen at login: what group patterns in the policy expand to for RBAC output.
CREATE TABLE seen_groups (
    name TEXT PRIMARY KEY,
    last_seen BIGINT NOT NULL
);
