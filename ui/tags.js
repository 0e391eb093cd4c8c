// A repository's page: its tags, a page at a time (keyset).
import {api, enc, nextLink} from "./api.js";
import {bytes, confirmDialog, copyable, h, replace, when} from "./dom.js";
import {accessLevel, DEVELOPER, MAINTAINER, navigate, statusLine} from "./common.js";
import {repoStatus} from "./registry.js";

const TAGS_PER_PAGE = 20;

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

