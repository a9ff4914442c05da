-- Accounts: disabled accounts, sessions (refresh-token families) with their client, one-time
-- password resets, and the audit log.

ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- A session is a refresh-token family: created with its first token, used with its last.
ALTER TABLE refresh_tokens ADD COLUMN user_agent text NOT NULL DEFAULT '';
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE password_resets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_resets_user ON password_resets (user_id);

-- Who did what to which account or project. Ids are kept, not referenced: an entry outlives
-- the account or project it names (a delete is itself an entry). A null actor is the CLI.
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor uuid,
    action text NOT NULL,
    target_user uuid,
    target_project uuid,
    details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_actor ON audit_log (actor, at);
CREATE INDEX audit_log_target_user ON audit_log (target_user, at);
CREATE INDEX audit_log_target_project ON audit_log (target_project, at);
