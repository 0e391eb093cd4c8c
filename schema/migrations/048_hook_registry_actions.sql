-- Which of the container registry's events a hook takes, beside container_registry_events (the
-- switch of them all): tag pushes, tag deletions, repository deletions, refusals over the storage
-- limit (hook_wants in schema/functions/hooks.sql). All on for the hooks there already.
ALTER TABLE hooks
    ADD COLUMN container_registry_tag_push_events boolean NOT NULL DEFAULT true,
    ADD COLUMN container_registry_tag_delete_events boolean NOT NULL DEFAULT true,
    ADD COLUMN container_registry_repository_delete_events boolean NOT NULL DEFAULT true,
    ADD COLUMN container_registry_quota_exceeded_events boolean NOT NULL DEFAULT true;
