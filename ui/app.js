// The interface's entry: maps GitLab's page URLs to the pages, keeps navigation inside the page
// (history API), and shows who is signed in.
import {api, signOut, token, toSignIn} from "./api.js";
import {h, replace} from "./dom.js";
import {failure, notFound, setNavigate} from "./common.js";
import {home, signIn} from "./home.js";
import {groupRegistry, projectRegistry} from "./registry.js";
import {repository} from "./tags.js";
import {packagesSettings} from "./settings.js";
import {members, repositorySettings} from "./access.js";
import {newUser, overview, users} from "./admin.js";

const SEG = "[A-Za-z0-9_.][A-Za-z0-9_.-]*";
const routes = [
	[/^\/users\/sign_in$/, () => signIn()],
	[/^\/admin$/, () => overview()],
	[/^\/admin\/users$/, () => users()],
	[/^\/admin\/users\/new$/, () => newUser()],
	[/^\/(?:dashboard\/(?:projects|groups))?$/, () => home()],
	[new RegExp(`^/groups/(${SEG}(?:/${SEG})*)/-/container_registries$`), (m) => groupRegistry(m[1])],
	[new RegExp(`^/(${SEG}(?:/${SEG})+)/container_registry$`), (m) => projectRegistry(m[1])],
	[new RegExp(`^/(${SEG}(?:/${SEG})+)/container_registry/(\\d+)$`), (m) => repository(m[1], m[2])],
	[new RegExp(`^/(${SEG}(?:/${SEG})+)/-/settings/packages_and_registries$`), (m) => packagesSettings(m[1])],
	[new RegExp(`^/(${SEG}(?:/${SEG})+)/-/settings/repository$`), (m) => repositorySettings(m[1])],
	[new RegExp(`^/(${SEG}(?:/${SEG})+)/-/project_members$`), (m) => members(m[1])],
];

let me = null;
let renders = 0; // the latest render; an older one that finishes late shows nothing

// The signed-in user (GET /user), fetched once per token.
export async function currentUser() {
	if (!token()) return null;
	if (me === null) me = (await api("/user")).data;
	return me;
}

// The account links in the header: the user's name and Sign out, or Sign in.
async function renderNav() {
	const nav = document.getElementById("user-nav");
	if (!token()) {
		me = null;
		replace(nav, location.pathname === "/users/sign_in" ? null : h("a", {href: "/users/sign_in"}, "Sign in"));
		return;
	}
	try {
		const user = await currentUser();
		replace(nav, user.is_admin ? h("a", {href: "/admin", id: "admin-link"}, "Admin area") : null,
			h("span", {class: "who"}, user.username),
			h("button", {type: "button", class: "secondary", id: "sign-out", onclick: async (e) => {
				e.currentTarget.disabled = true;
				await signOut();
				me = null;
				navigate("/users/sign_in");
			}}, "Sign out"));
	} catch {
		replace(nav);
	}
}

// Shows the page of the current URL.
async function render() {
	const main = document.getElementById("main");
	const path = location.pathname.replace(/\/+$/, "") || "/";
	const route = routes.find(([re]) => re.test(path));
	if (!token() && path !== "/users/sign_in") {
		toSignIn();
		return;
	}
	const seq = ++renders;
	renderNav();
	let content;
	try {
		content = route ? await route[1](path.match(route[0])) : notFound();
	} catch (e) {
		content = e.status === 401 ? undefined : failure(e);
	}
	if (content === undefined || seq !== renders) return; // the page moved on (401: sign in)
	replace(main, content);
	const h1 = main.querySelector("h1");
	if (h1) document.title = h1.textContent + " · Container Registry";
	main.focus({preventScroll: true});
}

// Goes to url inside the page.
export function navigate(url) {
	history.pushState(null, "", url);
	render();
}

// Same-origin links navigate inside the page.
document.addEventListener("click", (e) => {
	const a = e.target.closest("a[href]");
	if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey ||
		a.target || a.origin !== location.origin || a.pathname.startsWith("/-/")) return;
	e.preventDefault();
	navigate(a.pathname + a.search);
});
addEventListener("popstate", render);
setNavigate(navigate);
render();
