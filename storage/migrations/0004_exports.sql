-- Export jobs: queued by the API, rendered by the task queue, files expire.

CREATE TABLE exports (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    format text NOT NULL CHECK (format IN ('pdf', 'docx', 'json')),
    phases smallint[],
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'done', 'failed', 'expired')),
    progress smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    size bigint,
    error text,
    file_name text,
    requested_by uuid REFERENCES users (id) ON DELETE SET NULL,
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    heartbeat_at timestamptz,
    expires_at timestamptz
);
CREATE INDEX exports_project ON exports (project_id, created_at DESC);
CREATE INDEX exports_open ON exports (status) WHERE status IN ('queued', 'running', 'done');
