// A repository's page: its tags, a page at a time (keyset), searched by name and sorted by name
// or by date; tags selected and deleted together; a multi-arch index's platforms and the
// referrers (signatures, SBOMs) of each tag, read from /v2 (v2.js).
import {api, enc, nextLink} from "./api.js";
import {bytes, confirmDialog, copyable, h, replace, when} from "./dom.js";
import {accessLevel, DEVELOPER, MAINTAINER, navigate, statusLine} from "./common.js";
import {repoStatus} from "./registry.js";
import {isIndex, manifest, platforms, referrers} from "./v2.js";

const TAGS_PER_PAGE = 20;
const DELETE_AT_ONCE = 4; // tag deletions in flight together
// The orders of the list: the value of the "Sort by" field -> order_by and sort of the API.
const ORDERS = [
	["name_asc", "Name, A to Z", "name", "asc"],
	["name_desc", "Name, Z to A", "name", "desc"],
	["published_desc", "Published, newest first", "published_at", "desc"],
	["published_asc", "Published, oldest first", "published_at", "asc"],
];
let flash = null; // what the last bulk deletion left to say, shown by the next render

// The value of "last" in a keyset Link URL.
function lastOf(url) {
	try { return new URL(url, location.origin).searchParams.get("last"); } catch { return null; }
}

// The page's query (?name=&sort=&last=) as the list needs it.
function queryOf(search) {
	const q = new URLSearchParams(search);
	const order = ORDERS.find((o) => o[0] === q.get("sort")) || ORDERS[0];
	return {name: q.get("name") || "", order, last: q.get("last")};
}

// The URL of this page for name, order and last (the defaults left out).
function pageUrl(here, {name, order, last}) {
	const q = new URLSearchParams();
	if (name) q.set("name", name);
	if (order !== ORDERS[0]) q.set("sort", order[0]);
	if (last) q.set("last", last);
	const s = q.toString();
	return here + (s ? "?" + s : "");
}

// The search and sort form; submitting it goes to the first page of that list.
function searchForm(here, query) {
	const input = h("input", {type: "search", id: "tag-search", name: "name", value: query.name,
		autocomplete: "off"});
	const select = h("select", {id: "tag-sort", name: "sort"},
		ORDERS.map(([value, label]) => h("option", {value, selected: value === query.order[0]}, label)));
	return h("form", {role: "search", class: "search tag-search", onsubmit: (e) => {
		e.preventDefault();
		const order = ORDERS.find((o) => o[0] === select.value) || ORDERS[0];
		navigate(pageUrl(here, {name: input.value.trim(), order, last: null}));
	}},
	h("div", {class: "field"}, h("label", {for: "tag-search"}, "Search tags by name"), input),
	h("div", {class: "field"}, h("label", {for: "tag-sort"}, "Sort by"), select),
	h("button", {type: "submit"}, "Search"));
}

// Fills a row's Platforms and Referrers cells from /v2, once the table is shown; refs: this
// render's referrers by digest (tags of one image ask once).
async function fillDetails(path, t, platformCell, referrerCell, refs) {
	if (!t.digest) {
		replace(platformCell, "–");
		replace(referrerCell, "–");
		return;
	}
	if (!refs.has(t.digest)) refs.set(t.digest, referrers(path, t.digest));
	const [m, found] = await Promise.allSettled([
		t.revision ? Promise.resolve(null) : manifest(path, t.digest), // an index has no config
		refs.get(t.digest)]);
	if (m.status === "rejected") replace(platformCell, h("span", {class: "error"}, m.reason.message));
	else if (m.value && isIndex(m.value)) {
		const list = platforms(m.value);
		replace(platformCell, list.length ? h("ul", {class: "platforms"},
			list.map((p) => h("li", {}, h("code", {}, p)))) : "–");
	} else replace(platformCell, "–");
	if (found.status === "rejected") replace(referrerCell, h("span", {class: "error"}, found.reason.message));
	else replace(referrerCell, found.value.length === 0 ? "–" : h("ul", {class: "referrers"},
		found.value.map((d) => h("li", {},
			h("span", {class: "artifact-type"}, d.artifactType || d.mediaType || "artifact"),
			h("code", {class: "digest", title: d.digest, "data-digest": d.digest}, shortDigest(d.digest))))));
}

// "sha256:0123456789ab…": enough of a digest to tell it apart on a page (the whole in its title).
function shortDigest(d) {
	const i = d.indexOf(":");
	return d.length > i + 13 ? d.slice(0, i + 13) + "…" : d;
}

// Deletes the named tags, a few at a time; answers [[name, message]] of those that failed.
async function deleteTags(base, names) {
	const failed = [];
	let next = 0;
	const worker = async () => {
		while (next < names.length) {
			const name = names[next++];
			try { await api(`${base}/${enc(name)}`, {method: "DELETE"}); }
			catch (e) { failed.push([name, e.message]); }
		}
	};
	await Promise.all(Array.from({length: Math.min(DELETE_AT_ONCE, names.length)}, worker));
	return failed.sort((a, b) => names.indexOf(a[0]) - names.indexOf(b[0]));
}

// What the last bulk deletion did: how many went, and each failure as the API worded it.
function flashOf(f) {
	if (!f) return null;
	return h("div", {class: "bulk-outcome"},
		f.deleted ? h("p", {role: "status", id: "bulk-deleted"},
			`${f.deleted} tag${f.deleted === 1 ? "" : "s"} deleted.`) : null,
		f.failed.length ? h("div", {role: "alert", id: "bulk-failures"},
			h("p", {class: "error"}, `${f.failed.length} tag${f.failed.length === 1 ? "" : "s"} could not be deleted:`),
			h("ul", {}, f.failed.map(([name, message]) => h("li", {}, h("code", {}, name), ": ", message))))
			: null);
}

// /<project>/container_registry/<id>: a repository's tags, TAGS_PER_PAGE at a time (keyset).
export async function repository(projectPath, id) {
	const outcome = flash;
	flash = null;
	const repo = (await api(`/registry/repositories/${enc(id)}?tags_count=true&size=true`)).data;
	const project = (await api("/projects/" + repo.project_id)).data;
	const level = await accessLevel(project);
	const query = queryOf(location.search);
	const base = `/projects/${project.id}/registry/repositories/${repo.id}/tags`;
	const params = new URLSearchParams({pagination: "keyset", order_by: query.order[2],
		sort: query.order[3], per_page: TAGS_PER_PAGE});
	if (query.name) params.set("name", query.name);
	if (query.last) params.set("last", query.last);
	const list = await api(`${base}?${params}`);
	const details = await Promise.all(list.data.map((t) =>
		api(`${base}/${enc(t.name)}`).then((r) => r.data, () => t)));
	const status = statusLine();
	const here = `/${project.path_with_namespace}/container_registry/${repo.id}`;
	const canDelete = level >= DEVELOPER;
	const boxes = [];
	const selectedNames = () => boxes.filter((b) => b.checked).map((b) => b.value);
	const bulkButton = canDelete ? h("button", {type: "button", class: "danger", id: "delete-selected",
		disabled: true, onclick: async () => {
			const names = selectedNames();
			if (names.length === 0) return;
			if (!await confirmDialog("Delete tags", `Delete ${names.length} tag${names.length === 1 ? "" : "s"}` +
				` of ${repo.path}: ${names.join(", ")}?`, "Delete tags")) return;
			bulkButton.disabled = true;
			replace(status, `Deleting ${names.length} tags…`);
			const failed = await deleteTags(base, names);
			flash = {deleted: names.length - failed.length, failed};
			navigate(location.pathname + location.search);
		}}, "Delete selected tags") : null;
	const onSelect = () => {
		const n = selectedNames().length;
		bulkButton.disabled = n === 0;
		replace(bulkButton, n ? `Delete ${n} selected tag${n === 1 ? "" : "s"}` : "Delete selected tags");
		if (selectAll) {
			selectAll.checked = n === boxes.length;
			selectAll.indeterminate = n > 0 && n < boxes.length;
		}
	};
	const selectAll = canDelete && details.length ? h("input", {type: "checkbox", id: "select-all",
		"aria-label": "Select every tag of this page", onchange: (e) => {
			for (const b of boxes) b.checked = e.target.checked;
			onSelect();
		}}) : null;
	const fills = [], refs = new Map();
	const rows = details.map((t) => {
		const box = canDelete ? h("input", {type: "checkbox", class: "select-tag", value: t.name,
			"aria-label": "Select tag " + t.name, onchange: onSelect}) : null;
		if (box) boxes.push(box);
		const platformCell = h("td", {"data-label": "Platforms", class: "platforms-cell"}, "…");
		const referrerCell = h("td", {"data-label": "Referrers", class: "referrers-cell"}, "…");
		fills.push(() => fillDetails(repo.path, t, platformCell, referrerCell, refs));
		return h("tr", {"data-tag": t.name},
			canDelete ? h("td", {class: "select"}, box) : null,
			h("th", {scope: "row"}, t.name),
			h("td", {"data-label": "Digest"}, h("code", {class: "digest", title: t.digest || ""}, t.digest || "–"),
				h("div", {class: "revision"}, "Revision ", h("code", {title: t.revision || ""}, t.short_revision || "–"))),
			h("td", {"data-label": "Size"}, bytes(t.total_size)),
			h("td", {"data-label": "Published"}, when(t.published_at || t.created_at)),
			platformCell, referrerCell,
			h("td", {"data-label": "Pull"}, copyable("pull command for tag " + t.name, "docker pull " + t.location)),
			h("td", {}, canDelete ? h("button", {type: "button", class: "danger",
				"aria-label": "Delete tag " + t.name, onclick: async () => {
					if (!await confirmDialog("Delete tag", `Delete the tag ${t.name} of ${repo.path}?`,
						"Delete tag")) return;
					try {
						await api(`${base}/${enc(t.name)}`, {method: "DELETE"});
						navigate(location.pathname + location.search);
					} catch (e) { replace(status, e.message); }
				}}, "Delete") : null));
	});
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
	const heads = [canDelete ? selectAll : null, "Tag", "Digest", "Size", "Published",
		"Platforms", "Referrers", "Pull", ""];
	// the /v2 details come once the table is in the page, so that they never delay it
	queueMicrotask(() => fills.forEach((f) => f()));
	return h("section", {},
		h("p", {class: "crumbs"}, h("a", {href: "/"}, "Projects"), " / ",
			h("a", {href: `/${project.path_with_namespace}/container_registry`}, project.name_with_namespace),
			" / ", repo.name || repo.path),
		h("h1", {}, repo.path),
		h("p", {id: "repo-summary"}, `${repo.tags_count ?? "?"} tag${repo.tags_count === 1 ? "" : "s"} · ${bytes(repo.size)} · created `, when(repo.created_at),
			" · ", repoStatus(repo)),
		copyable("pull command", "docker pull " + repo.location),
		deleteRepo, status, flashOf(outcome),
		searchForm(here, query),
		rows.length === 0 ? h("p", {id: "no-tags"}, query.name ?
			`No tag of this repository has “${query.name}” in its name.` : "This repository has no tags.") :
			h("div", {class: "tag-list"},
				canDelete ? h("p", {class: "bulk"}, bulkButton) : null,
				h("table", {class: "grid", id: "tags"},
					h("caption", {}, "Tags" + (query.name ? ` named like “${query.name}”` : "") +
						(query.last ? " after " + query.last : "")),
					h("thead", {}, h("tr", {}, heads.filter((x) => x !== null).map((t) =>
						typeof t === "string" ? h("th", {scope: "col"}, t) :
							h("th", {scope: "col", class: "select"}, t)))),
					h("tbody", {}, rows))),
		h("nav", {class: "pager", "aria-label": "Tag pages"},
			query.last ? h("a", {href: pageUrl(here, {...query, last: null})}, "First page") : null,
			next && lastOf(next) ? h("a", {href: pageUrl(here, {...query, last: lastOf(next)}),
				rel: "next"}, "Next page") : null));
}
