// The sign-in page and the home page.
import {signIn as apiSignIn, api} from "./api.js";
import {h, replace} from "./dom.js";
import {navigate} from "./common.js";

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

