-- Protection rules of a project's container registry (GitLab's protected container tags,
-- immutable container tags and protected container repositories): who may push and delete what
-- (schema/functions/registry_protection.sql holds the rules' checks).

-- A tag rule: tags whose name tag_name_pattern (an unanchored regex, at most 100 characters)
-- matches need the levels to be pushed and deleted (40 Maintainer, 50 Owner, 60 admin); a rule
-- with neither level is immutable: a matching tag, once pushed, is neither moved nor deleted.
CREATE TABLE registry_protection_tag_rules (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    tag_name_pattern text NOT NULL CHECK (length(tag_name_pattern) BETWEEN 1 AND 100),
    minimum_access_level_for_push smallint CHECK (minimum_access_level_for_push IN (40, 50, 60)),
    minimum_access_level_for_delete smallint
        CHECK (minimum_access_level_for_delete IN (40, 50, 60)),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((minimum_access_level_for_push IS NULL) = (minimum_access_level_for_delete IS NULL))
);
CREATE UNIQUE INDEX registry_protection_tag_rules_pattern_key
    ON registry_protection_tag_rules (project_id, tag_name_pattern);

-- A repository rule: repositories whose path (the project's full path and the name below it)
-- repository_path_pattern matches, with * for any characters, need the levels for pushes and
-- deletes.
CREATE TABLE registry_protection_repository_rules (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    repository_path_pattern text NOT NULL
        CHECK (length(repository_path_pattern) BETWEEN 1 AND 255),
    minimum_access_level_for_push smallint CHECK (minimum_access_level_for_push IN (40, 50, 60)),
    minimum_access_level_for_delete smallint
        CHECK (minimum_access_level_for_delete IN (40, 50, 60)),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (minimum_access_level_for_push IS NOT NULL OR minimum_access_level_for_delete IS NOT NULL)
);
CREATE UNIQUE INDEX registry_protection_repository_rules_pattern_key
    ON registry_protection_repository_rules (project_id, repository_path_pattern);

-- The refusals of protection rules.
ALTER TYPE status_word ADD VALUE 'tag_protected';
ALTER TYPE status_word ADD VALUE 'tag_denied';
ALTER TYPE status_word ADD VALUE 'rule_limit';
ALTER TYPE status_word ADD VALUE 'rule_not_found';
ALTER TYPE status_word ADD VALUE 'rule_taken';
ALTER TYPE status_word ADD VALUE 'rule_pattern_invalid';
ALTER TYPE status_word ADD VALUE 'rule_immutable';
ALTER TYPE status_word ADD VALUE 'immutable_forbidden';
ALTER TYPE status_word ADD VALUE 'rule_levels_missing';

-- registry_put_manifest learns who pushes (protected tags need a role); the file defines the new one
DROP FUNCTION IF EXISTS registry_put_manifest(text, text, text, text, text, text, text, jsonb, bytea,
                                              text[], bigint[], text[], text);
