// A project's and a group's registry pages: their image repositories.
import {api, enc} from "./api.js";
import {bytes, confirmDialog, copyable, h, replace, when} from "./dom.js";
import {accessLevel, MAINTAINER, navigate, statusLine} from "./common.js";
import {projectNav} from "./settings.js";

// A repository's state as GitLab's page shows it.
export function repoStatus(r) {
	return r.status ? r.status.replace(/_/g, " ") : "active";
}

// A repository's cleanup as GitLab's page tells it: running (since when), scheduled by the
// project's policy (next run), or off.
function cleanupStatus(r, policy) {
	if (r.cleanup_policy_started_at) return ["running since ", when(r.cleanup_policy_started_at)];
	if (policy && policy.enabled) return ["scheduled ", when(policy.next_run_at)];
	return "off";
}

// Fills each repository's size cell from GET /registry/repositories/:id?size=true, after the
// table is shown (the list does not carry sizes, as GitLab's does not).
function fillSizes(cells) {
	for (const [id, cell] of cells)
		api(`/registry/repositories/${id}?size=true`).then((r) => replace(cell, bytes(r.data.size)),
			() => replace(cell, "–"));
}

// /<project>/container_registry: the project's repositories.
export async function projectRegistry(path) {
	const project = (await api("/projects/" + enc(path))).data;
	const [repos, level] = await Promise.all([
		api(`/projects/${project.id}/registry/repositories?tags_count=true&per_page=100`),
		accessLevel(project)]);
	const status = statusLine();
	const sizes = [];
	const policy = project.container_expiration_policy;
	const rows = repos.data.map((r) => {
		const size = h("td", {"data-label": "Size", class: "size"}, "…");
		sizes.push([r.id, size]);
		const del = level >= MAINTAINER && !r.status ? h("button", {type: "button", class: "danger",
			"aria-label": "Delete repository " + (r.path), onclick: async () => {
				if (!await confirmDialog("Delete repository", `Delete ${r.path} and all its tags? ` +
					"This cannot be undone.", "Delete repository")) return;
				try {
					await api(`/projects/${project.id}/registry/repositories/${r.id}`, {method: "DELETE"});
					navigate(location.pathname);
				} catch (e) { replace(status, e.message); }
			}}, "Delete") : null;
		return h("tr", {},
			h("th", {scope: "row"}, h("a", {href: `/${project.path_with_namespace}/container_registry/${r.id}`},
				r.name || r.path)),
			h("td", {"data-label": "Tags"}, r.tags_count ?? "–"),
			size,
			h("td", {"data-label": "Created"}, when(r.created_at)),
			h("td", {"data-label": "Status"}, repoStatus(r)),
			h("td", {"data-label": "Cleanup", class: "cleanup"}, cleanupStatus(r, policy)),
			h("td", {"data-label": "Pull"}, copyable("pull command for " + r.path, "docker pull " + r.location)),
			h("td", {}, del));
	});
	fillSizes(sizes);
	return h("section", {},
		h("p", {class: "crumbs"}, h("a", {href: "/"}, "Projects"), " / ", project.name_with_namespace),
		projectNav(project, `/${project.path_with_namespace}/container_registry`),
		h("h1", {}, "Container Registry"),
		h("p", {}, "CI_REGISTRY_IMAGE of ", h("strong", {}, project.path_with_namespace), ":"),
		copyable("CI_REGISTRY_IMAGE", project.container_registry_image_prefix),
		status,
		rows.length === 0 ? h("p", {id: "no-repos"}, "No container images stored for this project.") :
			h("table", {class: "grid", id: "repositories"},
				h("caption", {}, `${rows.length} image repositor${rows.length === 1 ? "y" : "ies"}`),
				h("thead", {}, h("tr", {}, ["Name", "Tags", "Size", "Created", "Status", "Cleanup", "Pull", ""].map((t) =>
					h("th", {scope: "col"}, t)))),
				h("tbody", {}, rows)));
}

// /groups/<group>/-/container_registries: every repository of the group and its subgroups.
export async function groupRegistry(path) {
	const group = (await api("/groups/" + enc(path) + "?with_projects=false")).data;
	const repos = (await api(`/groups/${group.id}/registry/repositories?tags_count=true&per_page=100`)).data;
	// a repository's project path: its path without its name
	const projectOf = (r) => r.name ? r.path.slice(0, -(r.name.length + 1)) : r.path;
	return h("section", {},
		h("p", {class: "crumbs"}, h("a", {href: "/"}, "Groups"), " / ", group.full_name),
		h("h1", {}, "Container Registry"),
		h("p", {}, "Every image repository of ", h("strong", {}, group.full_path), " and its subgroups."),
		repos.length === 0 ? h("p", {id: "no-repos"}, "No container images stored in this group.") :
			h("table", {class: "grid", id: "repositories"},
				h("caption", {}, `${repos.length} image repositor${repos.length === 1 ? "y" : "ies"}`),
				h("thead", {}, h("tr", {}, ["Repository", "Tags", "Created", "Status"].map((t) =>
					h("th", {scope: "col"}, t)))),
				h("tbody", {}, repos.map((r) => h("tr", {},
					h("th", {scope: "row"}, h("a", {href: `/${projectOf(r)}/container_registry/${r.id}`}, r.path)),
					h("td", {"data-label": "Tags"}, r.tags_count ?? "–"),
					h("td", {"data-label": "Created"}, when(r.created_at)),
					h("td", {"data-label": "Status"}, repoStatus(r)))))));
}

