-- Phase status history and named versions of phase content.

ALTER TABLE phases ADD COLUMN completed_at timestamptz;
ALTER TABLE phases ADD COLUMN content_changed_at timestamptz;

CREATE TABLE phase_versions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL,
    number smallint NOT NULL,
    label text NOT NULL,
    source text NOT NULL CHECK (source IN ('manual', 'completion', 'ai', 'restore')),
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    prosemirror jsonb NOT NULL,
    markdown text NOT NULL,
    FOREIGN KEY (project_id, number) REFERENCES phases (project_id, number) ON DELETE CASCADE
);
CREATE INDEX phase_versions_phase ON phase_versions (project_id, number, created_at DESC);
