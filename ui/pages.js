// The pages: each builds its content from the public API and answers the element to show
// (or throws the API's error, which the page then shows as the API said it).
import {api, ApiError, enc, nextLink, signIn as apiSignIn} from "./api.js";
import {bytes, confirmDialog, copyable, h, replace, when} from "./dom.js";

const GUEST = 10, DEVELOPER = 30, MAINTAINER = 40, OWNER = 50;
const TAGS_PER_PAGE = 20;
let navigate = (url) => location.assign(url);

// app.js hands its in-page navigation over (pages.js cannot import app.js: a cycle).
export function setNavigate(fn) {
	navigate = fn;
}

// The caller's role on a project: an admin's is Owner's; else the higher of the project's and
// the group's membership (GET /projects/:id's "permissions").
async function accessLevel(project) {
	const user = (await api("/user")).data;
	if (user.is_admin) return OWNER;
	const p = project.permissions || {};
	return Math.max(p.project_access?.access_level || 0, p.group_access?.access_level || 0);
}

// A polite live region where the outcome of an action is announced.
function statusLine() {
	return h("p", {role: "status", class: "status", "aria-live": "polite"});
}

// An error the API answered, as it said it.
export function failure(e) {
	return h("section", {class: "failure"}, h("h1", {}, "Something went wrong"),
		h("p", {role: "alert", class: "error"}, e instanceof ApiError ? e.message : String(e)),
		h("p", {}, h("a", {href: "/"}, "Back to your projects")));
}

export function notFound() {
	return h("section", {}, h("h1", {}, "Page not found"),
		h("p", {}, h("a", {href: "/"}, "Back to your projects")));
}

// /users/sign_in: the OAuth password grant.
export function signIn() {
	const error = h("p", {role: "alert", class: "error", id: "sign-in-error"});
	const user = h("input", {id: "username", name: "username", autocomplete: "username",
		required: true, autocapitalize: "none", spellcheck: "false"});
	const pass = h("input", {id: "password", name: "password", type: "password",
		autocomplete: "current-password", required: true});
	const submit = h("button", {type: "submit"}, "Sign in");
	const form = h("form", {class: "sign-in", onsubmit: async (e) => {
		e.preventDefault();
		submit.disabled = true;
		replace(error);
		try {
			await apiSignIn(user.value, pass.value);
			const back = new URLSearchParams(location.search).get("redirect_to") || "/";
			navigate(back.startsWith("/") && !back.startsWith("//") ? back : "/");
		} catch (err) {
			replace(error, err.message);
			pass.focus();
		} finally {
			submit.disabled = false;
		}
	}},
	h("label", {for: "username"}, "Username or email"), user,
	h("label", {for: "password"}, "Password"), pass, error, submit);
	return h("section", {class: "narrow"}, h("h1", {}, "Sign in"), form);
}

// /: the groups and projects the user is a member of, with search.
export async function home() {
	const search = new URLSearchParams(location.search).get("search") || "";
	const q = search ? "&search=" + encodeURIComponent(search) : "";
	const [projects, groups] = await Promise.all([
		api("/projects?membership=true&simple=true&per_page=100&order_by=path&sort=asc" + q),
		api("/groups?per_page=100" + q)]);
	const box = h("input", {type: "search", name: "search", id: "search", value: search});
	return h("section", {},
		h("h1", {}, "Your projects and groups"),
		h("form", {role: "search", class: "search", onsubmit: (e) => {
			e.preventDefault();
			navigate("/" + (box.value ? "?search=" + encodeURIComponent(box.value) : ""));
		}}, h("label", {for: "search"}, "Search by name"), box,
		h("button", {type: "submit"}, "Search")),
		h("h2", {}, "Projects"),
		projects.data.length === 0 ? h("p", {}, "No projects found.") :
			h("ul", {class: "list", id: "projects"}, projects.data.map((p) =>
				h("li", {}, h("a", {href: "/" + p.path_with_namespace + "/container_registry"},
					p.name_with_namespace), " ", h("span", {class: "muted"}, p.path_with_namespace)))),
		h("h2", {}, "Groups"),
		groups.data.length === 0 ? h("p", {}, "No groups found.") :
			h("ul", {class: "list", id: "groups"}, groups.data.map((g) =>
				h("li", {}, h("a", {href: "/groups/" + g.full_path + "/-/container_registries"},
					g.full_name), " ", h("span", {class: "muted"}, g.full_path)))));
}

// A repository's state as GitLab's page shows it.
function repoStatus(r) {
	return r.status ? r.status.replace(/_/g, " ") : "active";
}

// /<project>/container_registry: the project's repositories.
export async function projectRegistry(path) {
	const project = (await api("/projects/" + enc(path))).data;
	const [repos, level] = await Promise.all([
		api(`/projects/${project.id}/registry/repositories?tags_count=true&per_page=100`),
		accessLevel(project)]);
	const status = statusLine();
	const rows = repos.data.map((r) => {
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
			h("td", {"data-label": "Created"}, when(r.created_at)),
			h("td", {"data-label": "Status"}, repoStatus(r)),
			h("td", {"data-label": "Pull"}, copyable("pull command for " + r.path, "docker pull " + r.location)),
			h("td", {}, del));
	});
	return h("section", {},
		h("p", {class: "crumbs"}, h("a", {href: "/"}, "Projects"), " / ", project.name_with_namespace),
		h("h1", {}, "Container Registry"),
		h("p", {}, "CI_REGISTRY_IMAGE of ", h("strong", {}, project.path_with_namespace), ":"),
		copyable("CI_REGISTRY_IMAGE", project.container_registry_image_prefix),
		status,
		rows.length === 0 ? h("p", {id: "no-repos"}, "No container images stored for this project.") :
			h("table", {class: "grid", id: "repositories"},
				h("caption", {}, `${rows.length} image repositor${rows.length === 1 ? "y" : "ies"}`),
				h("thead", {}, h("tr", {}, ["Name", "Tags", "Created", "Status", "Pull", ""].map((t) =>
					h("th", {scope: "col"}, t)))),
				h("tbody", {}, rows)));
}

// The value of "last" in a keyset Link URL.
function lastOf(url) {
	try { return new URL(url, location.origin).searchParams.get("last"); } catch { return null; }
}

// /<project>/container_registry/<id>: a repository's tags, TAGS_PER_PAGE at a time (keyset).
export async function repository(projectPath, id) {
	const repo = (await api(`/registry/repositories/${enc(id)}?tags_count=true&size=true`)).data;
	const project = (await api("/projects/" + repo.project_id)).data;
	const level = await accessLevel(project);
	const last = new URLSearchParams(location.search).get("last");
	const base = `/projects/${project.id}/registry/repositories/${repo.id}/tags`;
	const list = await api(`${base}?pagination=keyset&sort=asc&per_page=${TAGS_PER_PAGE}` +
		(last ? "&last=" + encodeURIComponent(last) : ""));
	const details = await Promise.all(list.data.map((t) =>
		api(`${base}/${enc(t.name)}`).then((r) => r.data, () => t)));
	const status = statusLine();
	const here = `/${project.path_with_namespace}/container_registry/${repo.id}`;
	const rows = details.map((t) => h("tr", {"data-tag": t.name},
		h("th", {scope: "row"}, t.name),
		h("td", {"data-label": "Digest"}, h("code", {class: "digest", title: t.digest || ""}, t.digest || "–")),
		h("td", {"data-label": "Revision"}, h("code", {title: t.revision || ""}, t.short_revision || "–")),
		h("td", {"data-label": "Size"}, bytes(t.total_size)),
		h("td", {"data-label": "Created"}, when(t.created_at)),
		h("td", {"data-label": "Pull"}, copyable("pull command for tag " + t.name, "docker pull " + t.location)),
		h("td", {}, level >= DEVELOPER ? h("button", {type: "button", class: "danger",
			"aria-label": "Delete tag " + t.name, onclick: async () => {
				if (!await confirmDialog("Delete tag", `Delete the tag ${t.name} of ${repo.path}?`,
					"Delete tag")) return;
				try {
					await api(`${base}/${enc(t.name)}`, {method: "DELETE"});
					navigate(location.pathname + location.search);
				} catch (e) { replace(status, e.message); }
			}}, "Delete") : null)));
	const next = nextLink(list.headers);
	const deleteRepo = level >= MAINTAINER && !repo.status ? h("button", {type: "button",
		class: "danger", id: "delete-repository", onclick: async () => {
			if (!await confirmDialog("Delete repository", `Delete ${repo.path} and all its tags? ` +
				"This cannot be undone.", "Delete repository")) return;
			try {
				await api(`/projects/${project.id}/registry/repositories/${repo.id}`, {method: "DELETE"});
				navigate(`/${project.path_with_namespace}/container_registry`);
			} catch (e) { replace(status, e.message); }
		}}, "Delete repository") : null;
	return h("section", {},
		h("p", {class: "crumbs"}, h("a", {href: "/"}, "Projects"), " / ",
			h("a", {href: `/${project.path_with_namespace}/container_registry`}, project.name_with_namespace),
			" / ", repo.name || repo.path),
		h("h1", {}, repo.path),
		h("p", {}, `${repo.tags_count ?? "?"} tag${repo.tags_count === 1 ? "" : "s"} · ${bytes(repo.size)} · created `, when(repo.created_at),
			" · ", repoStatus(repo)),
		copyable("pull command", "docker pull " + repo.location),
		deleteRepo, status,
		rows.length === 0 ? h("p", {id: "no-tags"}, "This repository has no tags.") :
			h("table", {class: "grid", id: "tags"},
				h("caption", {}, "Tags" + (last ? " after " + last : "")),
				h("thead", {}, h("tr", {}, ["Tag", "Digest", "Revision", "Size", "Created", "Pull", ""].map((t) =>
					h("th", {scope: "col"}, t)))),
				h("tbody", {}, rows)),
		h("nav", {class: "pager", "aria-label": "Tag pages"},
			last ? h("a", {href: here}, "First page") : null,
			next && lastOf(next) ? h("a", {href: here + "?last=" + encodeURIComponent(lastOf(next)),
				rel: "next"}, "Next page") : null));
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

export const levels = {GUEST, DEVELOPER, MAINTAINER, OWNER};
