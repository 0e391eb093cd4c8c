// A project's settings pages, part one: the tabs every project page shows, and
// /<project>/-/settings/packages_and_registries (cleanup policy, storage usage and limit,
// protection rules, webhooks). Deploy tokens and members are in access.js.
import {api, enc} from "./api.js";
import {bytes, confirmDialog, h, replace, when} from "./dom.js";
import {accessLevel, MAINTAINER, navigate, statusLine} from "./common.js";

// The project's pages as tabs; current is the href of the page shown.
export function projectNav(project, current) {
	const base = "/" + project.path_with_namespace;
	const tabs = [[base + "/container_registry", "Container Registry"],
		[base + "/-/settings/packages_and_registries", "Packages and registries settings"],
		[base + "/-/settings/repository", "Deploy tokens"],
		[base + "/-/project_members", "Members"]];
	return h("nav", {class: "tabs", "aria-label": "Project"}, tabs.map(([href, text]) =>
		h("a", {href, "aria-current": href === current ? "page" : null}, text)));
}

// The top of a settings page: crumbs, tabs, title; answers [project, level, header nodes].
export async function settingsPage(path, suffix, title, query = "") {
	const project = (await api("/projects/" + enc(path) + query)).data;
	const level = await accessLevel(project);
	return [project, level, [
		h("p", {class: "crumbs"}, h("a", {href: "/"}, "Projects"), " / ", project.name_with_namespace),
		projectNav(project, `/${project.path_with_namespace}/${suffix}`),
		h("h1", {}, title)]];
}

// A labelled <select> of [value, text] options with value selected.
export function select(id, label, options, value) {
	const el = h("select", {id, name: id}, options.map(([v, t]) =>
		h("option", {value: v, selected: String(v) === String(value ?? "")}, t)));
	return [h("label", {for: id}, label), el];
}

// A labelled text field.
export function field(id, label, attrs = {}) {
	return [h("label", {for: id}, label), h("input", {id, name: id, ...attrs})];
}

// Runs an API write from a form: the button waits, the outcome goes to status (the API's words).
export async function submitting(form, status, work) {
	const button = form.querySelector("button[type=submit]");
	if (button) button.disabled = true;
	replace(status);
	try {
		await work();
	} catch (e) {
		replace(status, h("span", {class: "error", role: "alert"}, e.message || String(e)));
	} finally {
		if (button) button.disabled = false;
	}
}

// A section that is only shown when the API lets the caller read it: its 403 is shown as said.
async function readable(title, id, load) {
	try {
		return await load();
	} catch (e) {
		if (e.status !== 403) throw e;
		return h("section", {id}, h("h2", {}, title),
			h("p", {class: "muted"}, "Maintainers and Owners manage these. The API answered: " + e.message));
	}
}

// GitLab's choices for a cleanup policy (what the API takes), as its form words them.
const CADENCES = [["1d", "Every day"], ["7d", "Every week"], ["14d", "Every two weeks"],
	["1month", "Every month"], ["3month", "Every three months"]];
const KEEP_NS = [["", "No limit"], ...[1, 5, 10, 25, 50, 100].map((n) =>
	[n, `${n} tag${n === 1 ? "" : "s"} per image name`])];
const OLDER_THANS = [["", "Never"], ["7d", "7 days"], ["14d", "14 days"], ["30d", "30 days"],
	["90d", "90 days"]];

// The cleanup policy form (PUT /projects/:id container_expiration_policy_attributes).
function cleanupPolicy(project, level) {
	const p = project.container_expiration_policy || {};
	const status = statusLine();
	const next = h("p", {id: "next-run"});
	const showNext = (policy) => replace(next, "Next cleanup: ",
		policy.enabled && policy.next_run_at ? when(policy.next_run_at) : "not scheduled");
	showNext(p);
	const form = h("form", {id: "cleanup-policy", onsubmit: (e) => {
		e.preventDefault();
		const v = (id) => form.elements[id].value;
		const attrs = {enabled: form.elements["policy-enabled"].checked, cadence: v("policy-cadence"),
			keep_n: v("policy-keep-n") === "" ? null : Number(v("policy-keep-n")),
			older_than: v("policy-older-than") || null,
			name_regex: v("policy-name-regex"), name_regex_keep: v("policy-name-regex-keep")};
		submitting(form, status, async () => {
			const r = await api(`/projects/${project.id}`, {method: "PUT",
				body: {container_expiration_policy_attributes: attrs}});
			showNext(r.data.container_expiration_policy || {});
			replace(status, "Cleanup policy saved.");
		});
	}}, h("fieldset", {disabled: level < MAINTAINER},
		h("legend", {}, "Cleanup policy"),
		h("label", {class: "check"}, h("input", {type: "checkbox", id: "policy-enabled",
			checked: !!p.enabled}), "Enabled"),
		select("policy-cadence", "Run cleanup", CADENCES, p.cadence || "1d"),
		select("policy-keep-n", "Keep the most recent", KEEP_NS, p.keep_n),
		field("policy-name-regex-keep", "Keep tags matching (regular expression)",
			{value: p.name_regex_keep || "", spellcheck: "false"}),
		select("policy-older-than", "Remove tags older than", OLDER_THANS, p.older_than),
		field("policy-name-regex", "Remove tags matching (regular expression)",
			{value: p.name_regex || "", spellcheck: "false"}),
		level >= MAINTAINER ? h("button", {type: "submit"}, "Save cleanup policy") : null));
	return h("section", {id: "cleanup"}, h("h2", {}, "Cleanup policies"),
		h("p", {}, "Tags matching the keep rules are never removed; neither is latest, nor a protected tag."),
		level < MAINTAINER ? h("p", {class: "muted"}, "Only Maintainers and Owners can change it.") : null,
		form, next, status);
}

// The project's registry size and its top-level namespace's limit (GET /namespaces/:id answers
// the limit to the namespace's Owners and admins only).
async function storage(project) {
	const used = project.statistics?.container_registry_size;
	const top = project.path_with_namespace.split("/")[0];
	let limit;
	try {
		const ns = (await api("/namespaces/" + enc(top))).data;
		limit = ns.container_registry_storage_limit;
	} catch (e) {
		if (e.status !== 403 && e.status !== 404) throw e;
	}
	return h("section", {id: "storage"}, h("h2", {}, "Storage usage"),
		h("dl", {class: "facts"},
			h("dt", {}, "Container Registry of this project"), h("dd", {id: "registry-size"}, bytes(used)),
			h("dt", {}, `Storage limit of ${top}`), h("dd", {id: "storage-limit"},
				limit === undefined ? "shown to the namespace's Owners" :
					!limit ? "no limit" : bytes(limit))));
}

// The minimum roles a protection rule takes ("" leaves one unset).
const LEVELS = [["", "None"], ["maintainer", "Maintainer"], ["owner", "Owner"], ["admin", "Admin"]];

// A protection rules section: the rules, delete, and a form to add one (Maintainer+).
async function rules(project, level, kind) {
	const repo = kind === "repository";
	const key = repo ? "repository_path_pattern" : "tag_name_pattern";
	const url = `/projects/${project.id}/registry/protection/${kind}/rules`;
	const list = (await api(url)).data;
	const status = statusLine();
	const id = `${kind}-rules`;
	const title = repo ? "Protected container repositories" : "Protected container tags";
	const form = level >= MAINTAINER ? h("form", {class: "inline", onsubmit: (e) => {
		e.preventDefault();
		const v = (n) => form.elements[`${kind}-${n}`].value;
		const body = {[key]: v("pattern")};
		if (v("push")) body.minimum_access_level_for_push = v("push");
		if (v("delete")) body.minimum_access_level_for_delete = v("delete");
		submitting(form, status, async () => {
			await api(url, {method: "POST", body});
			navigate(location.pathname);
		});
	}}, h("h3", {}, "Add a rule"), field(`${kind}-pattern`, repo ? "Repository path pattern" : "Tag name pattern",
		{required: true, spellcheck: "false",
			placeholder: repo ? project.path_with_namespace + "/prod*" : "^v.*"}),
	select(`${kind}-push`, "Minimum role allowed to push", LEVELS, "maintainer"),
	select(`${kind}-delete`, "Minimum role allowed to delete", LEVELS, "maintainer"),
	h("button", {type: "submit"}, "Add protection rule")) : null;
	return h("section", {id}, h("h2", {}, title),
		list.length === 0 ? h("p", {}, "No protection rules.") : h("table", {class: "grid"},
			h("caption", {}, title),
			h("thead", {}, h("tr", {}, ["Pattern", "Push", "Delete", ""].map((t) => h("th", {scope: "col"}, t)))),
			h("tbody", {}, list.map((r) => h("tr", {},
				h("th", {scope: "row"}, h("code", {}, r[key])),
				h("td", {"data-label": "Push"}, r.immutable ? "immutable" : r.minimum_access_level_for_push || "–"),
				h("td", {"data-label": "Delete"}, r.immutable ? "immutable" : r.minimum_access_level_for_delete || "–"),
				h("td", {}, level >= MAINTAINER ? h("button", {type: "button", class: "danger",
					"aria-label": "Delete protection rule " + r[key], onclick: async () => {
						if (!await confirmDialog("Delete protection rule", `Delete the rule ${r[key]}?`,
							"Delete rule")) return;
						try {
							await api(`${url}/${r.id}`, {method: "DELETE"});
							navigate(location.pathname);
						} catch (e) { replace(status, e.message); }
					}}, "Delete") : null))))),
		form, status);
}

// The project's webhooks: list, add, delete (the API lets Maintainers manage them).
async function hooks(project, level) {
	const url = `/projects/${project.id}/hooks`;
	const list = (await api(url + "?per_page=100")).data;
	const status = statusLine();
	const form = level >= MAINTAINER ? h("form", {class: "inline", id: "add-hook", onsubmit: (e) => {
		e.preventDefault();
		const body = {url: form.elements["hook-url"].value,
			container_registry_events: form.elements["hook-registry"].checked};
		if (form.elements["hook-name"].value) body.name = form.elements["hook-name"].value;
		if (form.elements["hook-token"].value) body.token = form.elements["hook-token"].value;
		submitting(form, status, async () => {
			await api(url, {method: "POST", body});
			navigate(location.pathname);
		});
	}}, h("h3", {}, "Add a webhook"), field("hook-url", "URL", {type: "url", required: true}),
	field("hook-name", "Name"),
	field("hook-token", "Secret token", {type: "password", autocomplete: "off"}),
	h("label", {class: "check"}, h("input", {type: "checkbox", id: "hook-registry", checked: true}),
		"Container registry events"),
	h("button", {type: "submit"}, "Add webhook")) : null;
	return h("section", {id: "hooks"}, h("h2", {}, "Webhooks"),
		list.length === 0 ? h("p", {}, "No webhooks.") : h("table", {class: "grid"},
			h("caption", {}, "Webhooks"),
			h("thead", {}, h("tr", {}, ["URL", "Name", "Registry events", "Status", ""].map((t) =>
				h("th", {scope: "col"}, t)))),
			h("tbody", {}, list.map((k) => h("tr", {},
				h("th", {scope: "row"}, h("code", {}, k.url)),
				h("td", {"data-label": "Name"}, k.name || "–"),
				h("td", {"data-label": "Registry events"}, k.container_registry_events ? "yes" : "no"),
				h("td", {"data-label": "Status"}, (k.alert_status || "executable").replace(/_/g, " ")),
				h("td", {}, level >= MAINTAINER ? h("button", {type: "button", class: "danger",
					"aria-label": "Delete webhook " + k.url, onclick: async () => {
						if (!await confirmDialog("Delete webhook", `Delete the webhook ${k.url}?`,
							"Delete webhook")) return;
						try {
							await api(`${url}/${k.id}`, {method: "DELETE"});
							navigate(location.pathname);
						} catch (e) { replace(status, e.message); }
					}}, "Delete") : null))))),
		form, status);
}

// /<project>/-/settings/packages_and_registries
export async function packagesSettings(path) {
	const [project, level, top] = await settingsPage(path, "-/settings/packages_and_registries",
		"Packages and registries settings", "?statistics=true");
	const sections = await Promise.all([storage(project),
		readable("Protected container repositories", "repository-rules", () => rules(project, level, "repository")),
		readable("Protected container tags", "tag-rules", () => rules(project, level, "tag")),
		readable("Webhooks", "hooks", () => hooks(project, level))]);
	return h("section", {}, top, cleanupPolicy(project, level), ...sections);
}
