-- The portal read model as main at 321564a (before the work queue) wrote it, from the
-- events of portal_model_v1_events.jsonl at offsets 0-12 of partition 0. Made by
-- make_portal_model_v1.py with the code of that commit; do not edit by hand.
BEGIN TRANSACTION;
CREATE TABLE action_points (
    tenant TEXT NOT NULL,
    action_point_id TEXT NOT NULL,
    dossier_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    document_type TEXT NOT NULL,
    title TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    completed_at TEXT,
    removed_at TEXT,
    due_at TEXT,
    overdue INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    document_status TEXT,
    replaces_document_id TEXT,
    PRIMARY KEY (tenant, action_point_id)
);
INSERT INTO "action_points" VALUES('kantoor-utrecht','00000000-0000-0000-0000-000000002000','dossier-1','00000000-0000-0000-0000-000000001000','identiteitsbewijs','Identiteitsbewijs','{"type":"product","id":"hyp-1","scope":"hypotheek"}','completed','2026-01-05T09:00:00+00:00','2026-01-06T09:00:00+00:00',NULL,'2026-01-12T09:00:00+00:00',0,NULL,'uploaded',NULL);
INSERT INTO "action_points" VALUES('kantoor-utrecht','00000000-0000-0000-0000-000000002001','dossier-1','00000000-0000-0000-0000-000000001001','loonstrook','Loonstrook','{"type":"product","id":"hyp-1","scope":"hypotheek"}','open','2026-01-05T09:00:00+00:00',NULL,NULL,'2026-01-12T09:00:00+00:00',1,NULL,'requested',NULL);
INSERT INTO "action_points" VALUES('kantoor-utrecht','00000000-0000-0000-0000-000000002002','dossier-1','00000000-0000-0000-0000-000000001002','werkgeversverklaring','Werkgeversverklaring','{"type":"product","id":"hyp-1","scope":"hypotheek"}','completed','2026-01-05T09:00:00+00:00','2026-01-07T09:00:00+00:00',NULL,'2026-01-12T09:00:00+00:00',0,NULL,'approved',NULL);
CREATE TABLE office_settings (
    tenant TEXT PRIMARY KEY,
    progress_counts TEXT NOT NULL
);
INSERT INTO "office_settings" VALUES('kantoor-utrecht','approved');
CREATE TABLE tracking (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
INSERT INTO "tracking" VALUES('actiepunten.dossiercontrole.v1:0',13);
CREATE INDEX action_points_by_dossier ON action_points (tenant, dossier_id);
COMMIT;
