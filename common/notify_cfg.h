/*
 * The [notifications.<name>] sections of the configuration: CNCF Distribution's notification
 * endpoints (url, header, timeout, threshold, backoff, ignored_actions, ignored_media_types,
 * disabled), which metad keeps as instance-level hooks (schema/functions/notifications.sql).
 */
#ifndef REGISTRY_NOTIFY_CFG_H
#define REGISTRY_NOTIFY_CFG_H

#include <json-c/json.h>
#include <stdbool.h>

/* The section prefix: "[notifications.<name>]". */
#define NOTIFY_CFG_PREFIX "notifications."
#define NOTIFY_NAME_MAX 255

/* Takes the line "key = value" of the section of endpoint name into endpoints (a JSON array,
 * made on the first line); -1 with *cause for an unknown key or a bad value. */
int notify_cfg_set(json_object **endpoints, const char *name, const char *key, const char *value,
                   char **cause);
/* Checks the endpoints read (each has a url) and drops the disabled ones; -1 with *cause. */
int notify_cfg_finish(json_object *endpoints, char **cause);

#endif
