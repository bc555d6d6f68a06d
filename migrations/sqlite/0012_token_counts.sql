-- Tokens issued and refused per hour, grant type and client, summed over replicas (each adds
-- its own counts every few seconds).
CREATE TABLE token_counts (
    hour INTEGER NOT NULL,
    grant_type TEXT NOT NULL,
    client_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (hour, grant_type, client_id, outcome)
);
