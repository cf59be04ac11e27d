-- An administrator can disable an account: it can no longer sign in, and its sign-ins end.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
