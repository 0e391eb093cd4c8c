// The admin area on GitLab's URLs: /admin (the instance's health and the storage each top-level
// namespace uses), /admin/users (search, block, unblock) and /admin/users/new. Only for admins
// (GET /user's is_admin); the API refuses the writes to anyone else anyway.
import {api, ApiError, enc, nextLink} from "./api.js";
import {bytes, confirmDialog, h, replace, when} from "./dom.js";
import {navigate, statusLine} from "./common.js";

// "1 user", "2 users".
function plural(n, noun) {
	return `${n} ${noun}${Number(n) === 1 ? "" : "s"}`;
}

// The page an admin sees above each admin page: its title and the area's links.
function frame(title, ...content) {
	return h("section", {},
		h("nav", {"aria-label": "Admin area", class: "crumbs"},
			h("a", {href: "/admin"}, "Admin area"), " · ", h("a", {href: "/admin/users"}, "Users"),
			" · ", h("a", {href: "/admin/users/new"}, "New user")),
		h("h1", {}, title), content);
}

// Runs page() for an admin; anyone else gets the refusal the API gives non-admins.
async function adminOnly(page) {
	const user = (await api("/user")).data;
	if (!user.is_admin)
		return h("section", {}, h("h1", {}, "Admin area"),
			h("p", {role: "alert", class: "error", id: "admin-refused"}, "403 Forbidden"),
			h("p", {}, "Only administrators can open the admin area."),
			h("p", {}, h("a", {href: "/"}, "Back to your projects")));
	return page(user);
}

// GET of a health endpoint of the gateway: {status, body} (status 0: unreachable).
async function probe(path) {
	try {
		const r = await fetch(path, {credentials: "omit", headers: {Accept: "application/json"}});
		let body = null;
		try { body = await r.json(); } catch { body = null; }
		return {status: r.status, body};
	} catch {
		return {status: 0, body: null};
	}
}

// One line of the health list: what, its HTTP status and the state the endpoint names.
function healthItem(id, what, path, p) {
	const ok = p.status === 200;
	const state = p.body && typeof p.body.status === "string" ? p.body.status : "no answer";
	return h("li", {id, "data-ok": ok ? "true" : "false"},
		h("strong", {}, what + ": "), ok ? (id === "readiness" ? "ready" : "alive") :
			(id === "readiness" ? "not ready" : "not alive"),
		" ", h("span", {class: "muted"}, `(${path}: ${p.status || "unreachable"} ${state})`));
}

// /admin: health and storage usage per top-level namespace.
export function overview() {
	return adminOnly(async () => {
		const params = new URLSearchParams(location.search);
		const search = params.get("search") || "";
		const page = params.get("page") || "1";
		const [ready, live, namespaces, users] = await Promise.all([
			probe("/-/readiness"), probe("/-/health"),
			api(`/namespaces?top_level_only=true&per_page=50&page=${enc(page)}` +
				(search ? "&search=" + enc(search) : "")),
			api("/users?per_page=1")]);
		const next = nextLink(namespaces.headers);
		const total = namespaces.headers.get("X-Total");
		const box = h("input", {type: "search", name: "search", id: "namespace-search", value: search});
		return frame("Admin area",
			h("h2", {}, "Health"),
			h("ul", {class: "list", id: "health"},
				healthItem("readiness", "Readiness (PostgreSQL, storage, every daemon)", "/-/readiness", ready),
				healthItem("liveness", "Liveness", "/-/health", live)),
			h("p", {}, "Users: ", h("a", {href: "/admin/users", id: "users-total"},
				users.headers.get("X-Total") ?? "–")),
			h("h2", {}, "Storage per top-level namespace"),
			h("form", {role: "search", class: "search", onsubmit: (e) => {
				e.preventDefault();
				navigate("/admin" + (box.value ? "?search=" + encodeURIComponent(box.value) : ""));
			}}, h("label", {for: "namespace-search"}, "Search namespaces by name or path"), box,
			h("button", {type: "submit"}, "Search")),
			namespaces.data.length === 0 ? h("p", {id: "no-namespaces"}, "No namespaces found.") :
				h("table", {class: "grid", id: "usage"},
					h("caption", {}, plural(total ?? namespaces.data.length, "top-level namespace") + ", " +
						"container registry usage (deduplicated, as quotas count it)"),
					h("thead", {}, h("tr", {}, ["Namespace", "Kind", "Usage", "Bytes", "Stored on disk",
						"Limit"].map((t) => h("th", {scope: "col"}, t)))),
					h("tbody", {}, namespaces.data.map((n) => h("tr", {"data-namespace": n.full_path},
						h("th", {scope: "row"}, n.full_path),
						h("td", {"data-label": "Kind"}, n.kind),
						h("td", {"data-label": "Usage"}, bytes(n.container_registry_size)),
						h("td", {"data-label": "Bytes", class: "usage-bytes"},
							n.container_registry_size ?? "–"),
						h("td", {"data-label": "Stored on disk"}, bytes(n.container_registry_stored_size)),
						h("td", {"data-label": "Limit"}, n.container_registry_storage_limit ?
							bytes(n.container_registry_storage_limit) : "none"))))),
			next ? h("p", {class: "pager"}, h("a", {href: "/admin?" + new URLSearchParams(
				{...(search ? {search} : {}), page: String(Number(page) + 1)})}, "Next page")) : null);
	});
}

// A user's Block or Unblock button: asks first; the API's answer updates the row (state
// and button, focus on the new button) and is announced in status, a refusal as the API words it.
function blockButton(u, status) {
	const blocked = u.state === "blocked";
	const verb = blocked ? "Unblock" : "Block";
	const button = h("button", {type: "button", class: blocked ? "secondary" : "danger",
		"aria-label": `${verb} ${u.username}`, onclick: async () => {
			const text = blocked ? `${u.username} will be able to sign in and use their tokens again.` :
				`${u.username} will no longer be able to sign in, and their tokens will stop working.`;
			if (!await confirmDialog(`${verb} user`, text, `${verb} user`)) return;
			try {
				await api(`/users/${u.id}/${blocked ? "unblock" : "block"}`, {method: "POST"});
				const row = button.closest("tr");
				u.state = blocked ? "active" : "blocked";
				replace(row.querySelector(".state"), u.state);
				const next = blockButton(u, status);
				button.replaceWith(next);
				next.focus();
				replace(status, `${u.username} ${blocked ? "unblocked" : "blocked"}.`);
			} catch (e) {
				replace(status, e.message);
			}
		}}, verb);
	return button;
}

// /admin/users: every user, with search (GitLab's ?search=), block and unblock.
export function users() {
	return adminOnly(async (me) => {
		const params = new URLSearchParams(location.search);
		const search = params.get("search") || "";
		const page = params.get("page") || "1";
		const res = await api(`/users?per_page=50&page=${enc(page)}&order_by=id&sort=asc` +
			(search ? "&search=" + enc(search) : ""));
		const status = statusLine();
		const box = h("input", {type: "search", name: "search", id: "user-search", value: search});
		const next = nextLink(res.headers);
		return frame("Users",
			h("form", {role: "search", class: "search", onsubmit: (e) => {
				e.preventDefault();
				navigate("/admin/users" + (box.value ? "?search=" + encodeURIComponent(box.value) : ""));
			}}, h("label", {for: "user-search"}, "Search by name, username or email"), box,
			h("button", {type: "submit"}, "Search")),
			h("p", {}, h("a", {href: "/admin/users/new"}, "New user")),
			status,
			res.data.length === 0 ? h("p", {id: "no-users"}, "No users found.") :
				h("table", {class: "grid", id: "users"},
					h("caption", {}, plural(res.headers.get("X-Total") ?? res.data.length, "user")),
					h("thead", {}, h("tr", {}, ["Username", "Name", "Email", "State", "Role", "Created",
						""].map((t) => h("th", {scope: "col"}, t)))),
					h("tbody", {}, res.data.map((u) => h("tr", {"data-user": u.username},
						h("th", {scope: "row"}, u.username),
						h("td", {"data-label": "Name"}, u.name),
						h("td", {"data-label": "Email"}, u.email ?? "–"),
						h("td", {"data-label": "State", class: "state"}, u.state),
						h("td", {"data-label": "Role"}, u.is_admin ? "Administrator" : "Regular"),
						h("td", {"data-label": "Created"}, when(u.created_at)),
						h("td", {}, u.id === me.id ? null : blockButton(u, status)))))),
			next ? h("p", {class: "pager"}, h("a", {href: "/admin/users?" + new URLSearchParams(
				{...(search ? {search} : {}), page: String(Number(page) + 1)})}, "Next page")) : null);
	});
}

// A labelled field of the new-user form.
function field(id, label, attrs) {
	return [h("label", {for: id}, label), h("input", {id, name: id, required: true, ...attrs})];
}

// /admin/users/new: POST /users with username, name, email and password.
export function newUser() {
	return adminOnly(async () => {
		const error = h("p", {role: "alert", class: "error", id: "new-user-error"});
		const submit = h("button", {type: "submit"}, "Create user");
		const form = h("form", {class: "sign-in", id: "new-user", onsubmit: async (e) => {
			e.preventDefault();
			submit.disabled = true;
			replace(error);
			const v = (n) => form.elements[n].value;
			try {
				const u = (await api("/users", {method: "POST", body: {username: v("username"),
					name: v("name"), email: v("email"), password: v("password"),
					skip_confirmation: true}})).data;
				navigate("/admin/users?search=" + encodeURIComponent(u.username));
			} catch (err) {
				replace(error, err instanceof ApiError ? err.message : String(err));
			} finally {
				submit.disabled = false;
			}
		}},
		field("name", "Name", {autocomplete: "off"}),
		field("username", "Username", {autocomplete: "off", autocapitalize: "none", spellcheck: "false"}),
		field("email", "Email", {type: "email", autocomplete: "off"}),
		field("password", "Password", {type: "password", autocomplete: "new-password", minlength: 8}),
		error, submit);
		return frame("New user", h("div", {class: "narrow"}, form));
	});
}
