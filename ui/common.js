// What every page shares: the roles, the caller's role on a project, the status line, the
// error and not-found pages, and in-page navigation (handed over by app.js).
import {api, ApiError} from "./api.js";
import {h} from "./dom.js";

export const GUEST = 10, DEVELOPER = 30, MAINTAINER = 40, OWNER = 50;
let navigateTo = (url) => location.assign(url);

// app.js hands its in-page navigation over (the pages cannot import app.js: a cycle).
export function setNavigate(fn) {
	navigateTo = fn;
}

// Goes to url inside the page.
export function navigate(url) {
	navigateTo(url);
}

// The caller's role on a project: an admin's is Owner's; else the higher of the project's and
// the group's membership (GET /projects/:id's "permissions").
export async function accessLevel(project) {
	const user = (await api("/user")).data;
	if (user.is_admin) return OWNER;
	const p = project.permissions || {};
	return Math.max(p.project_access?.access_level || 0, p.group_access?.access_level || 0);
}

// A polite live region where the outcome of an action is announced.
export function statusLine() {
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

