// A project's settings pages, part two: who has access. /<project>/-/settings/repository (deploy
// tokens, as GitLab has them there) and /<project>/-/project_members.
import {api} from "./api.js";
import {confirmDialog, copyable, h, replace, when} from "./dom.js";
import {MAINTAINER, navigate, OWNER, statusLine} from "./common.js";
import {field, select, settingsPage, submitting} from "./settings.js";

// GitLab's roles (access levels) and a level's name.
const ROLES = [[10, "Guest"], [20, "Reporter"], [30, "Developer"], [40, "Maintainer"], [50, "Owner"]];
const roleName = (n) => (ROLES.find(([v]) => v === n) || [n, String(n)])[1];

// The token just created, shown once: it lives in this page's memory only, never in the URL
// or storage, so a reload or another visit does not show it again.
function newToken(t) {
	return h("section", {id: "new-token", class: "notice", tabindex: "-1"},
		h("h3", {}, "Your new deploy token"),
		h("p", {}, "Copy the token now: it will not be shown again."),
		h("p", {}, "Username"), copyable("deploy token username", t.username),
		h("p", {}, "Token"), copyable("deploy token", t.token));
}

// The deploy tokens of the project: list, create, revoke.
async function deployTokens(project, level) {
	const url = `/projects/${project.id}/deploy_tokens`;
	let list;
	try {
		list = (await api(url + "?per_page=100")).data;
	} catch (e) {
		if (e.status !== 403) throw e;
		return h("section", {id: "deploy-tokens"}, h("h2", {}, "Deploy tokens"), h("p", {class: "muted"},
			"Maintainers and Owners manage deploy tokens. The API answered: " + e.message));
	}
	const status = statusLine();
	const created = h("div", {});
	const tbody = h("tbody", {});
	const row = (t) => h("tr", {"data-token": t.name},
		h("th", {scope: "row"}, t.name),
		h("td", {"data-label": "Username"}, h("code", {}, t.username)),
		h("td", {"data-label": "Scopes"}, (t.scopes || []).join(", ")),
		h("td", {"data-label": "Expires"}, t.expires_at ? when(t.expires_at) : "never"),
		h("td", {}, level >= MAINTAINER ? h("button", {type: "button", class: "danger",
			"aria-label": "Revoke deploy token " + t.name, onclick: async () => {
				if (!await confirmDialog("Revoke deploy token", `Revoke ${t.name}? Anything using it ` +
					"will lose access to the registry.", "Revoke")) return;
				try {
					await api(`${url}/${t.id}`, {method: "DELETE"});
					navigate(location.pathname);
				} catch (e) { replace(status, e.message); }
			}}, "Revoke") : null));
	replace(tbody, list.filter((t) => !t.revoked).map(row));
	const form = level >= MAINTAINER ? h("form", {id: "create-deploy-token", onsubmit: (e) => {
		e.preventDefault();
		const el = form.elements;
		const body = {name: el["token-name"].value,
			scopes: ["read_registry", "write_registry"].filter((s) => el["scope-" + s].checked)};
		if (el["token-expires"].value) body.expires_at = el["token-expires"].value;
		if (el["token-username"].value) body.username = el["token-username"].value;
		submitting(form, status, async () => {
			const t = (await api(url, {method: "POST", body})).data;
			form.reset();
			tbody.append(row(t));
			replace(created, newToken(t));
			created.firstChild.focus();
		});
	}}, h("h3", {}, "New deploy token"),
	field("token-name", "Name", {required: true}),
	field("token-expires", "Expiration date (optional)", {type: "date"}),
	field("token-username", "Username (optional)", {autocomplete: "off", spellcheck: "false"}),
	h("fieldset", {}, h("legend", {}, "Scopes"),
		h("label", {class: "check"}, h("input", {type: "checkbox", id: "scope-read_registry"}),
			"read_registry: pull images"),
		h("label", {class: "check"}, h("input", {type: "checkbox", id: "scope-write_registry"}),
			"write_registry: push images")),
	h("button", {type: "submit"}, "Create deploy token")) : null;
	return h("section", {id: "deploy-tokens"}, h("h2", {}, "Deploy tokens"),
		h("p", {}, "A deploy token lets CI and servers pull or push this project's images with ",
			h("code", {}, "docker login"), ", without a user's password."),
		created, status,
		h("table", {class: "grid", id: "deploy-token-list"}, h("caption", {}, "Active deploy tokens"),
			h("thead", {}, h("tr", {}, ["Name", "Username", "Scopes", "Expires", ""].map((t) =>
				h("th", {scope: "col"}, t)))), tbody),
		form);
}

// /<project>/-/settings/repository: the deploy tokens.
export async function repositorySettings(path) {
	const [project, level, top] = await settingsPage(path, "-/settings/repository", "Repository settings");
	return h("section", {}, top, await deployTokens(project, level));
}

// /<project>/-/project_members: direct members (role, remove) and those the groups give.
export async function members(path) {
	const [project, level, top] = await settingsPage(path, "-/project_members", "Project members");
	const url = `/projects/${project.id}/members`;
	const [direct, all] = await Promise.all([api(url + "?per_page=100"), api(url + "/all?per_page=100")]);
	const own = new Set(direct.data.map((m) => m.id));
	const status = statusLine();
	const roles = ROLES.filter(([v]) => v < OWNER || level >= OWNER);
	const rows = all.data.map((m) => {
		// a direct member the caller may manage (only Owners manage Owners)
		const mine = own.has(m.id) && level >= MAINTAINER && (m.access_level < OWNER || level >= OWNER);
		// a select and its button: choosing with the keyboard's arrows does not send each choice
		const choice = mine ? h("select", {"aria-label": "Role of " + m.username},
			roles.map(([v, t]) => h("option", {value: v, selected: v === m.access_level}, t))) : null;
		const role = mine ? h("div", {class: "role"}, choice, h("button", {type: "button", class: "secondary",
			"aria-label": "Change role of " + m.username, onclick: async () => {
				try {
					await api(`${url}/${m.id}`, {method: "PUT", body: {access_level: Number(choice.value)}});
					replace(status, `${m.username} is now ${roleName(Number(choice.value))}.`);
				} catch (err) { replace(status, h("span", {class: "error", role: "alert"}, err.message)); }
			}}, "Change")) : roleName(m.access_level);
		return h("tr", {"data-member": m.username},
			h("th", {scope: "row"}, m.name || m.username, " ", h("span", {class: "muted"}, "@" + m.username)),
			h("td", {"data-label": "Role"}, role),
			h("td", {"data-label": "Source"}, own.has(m.id) ? "direct member" : "inherited from a group"),
			h("td", {"data-label": "Expires"}, m.expires_at ? when(m.expires_at) : "never"),
			h("td", {}, mine ? h("button", {type: "button", class: "danger",
				"aria-label": "Remove member " + m.username, onclick: async () => {
					if (!await confirmDialog("Remove member", `Remove ${m.username} from ${project.name}?`,
						"Remove member")) return;
					try {
						await api(`${url}/${m.id}`, {method: "DELETE"});
						navigate(location.pathname);
					} catch (e) { replace(status, e.message); }
				}}, "Remove") : null));
	});
	const form = level >= MAINTAINER ? h("form", {class: "inline", id: "add-member", onsubmit: (e) => {
		e.preventDefault();
		const username = form.elements["member-username"].value.trim().replace(/^@/, "");
		submitting(form, status, async () => {
			const users = (await api("/users?username=" + encodeURIComponent(username))).data;
			if (users.length === 0) throw new Error(`No user with the username ${username}.`);
			await api(url, {method: "POST", body: {user_id: users[0].id,
				access_level: Number(form.elements["member-role"].value)}});
			navigate(location.pathname);
		});
	}}, field("member-username", "Username", {required: true, autocomplete: "off", spellcheck: "false"}),
	select("member-role", "Role", roles, 20),
	h("button", {type: "submit"}, "Add member")) : null;
	return h("section", {}, top, status,
		h("table", {class: "grid", id: "members"}, h("caption", {}, `${rows.length} member${rows.length === 1 ? "" : "s"}`),
			h("thead", {}, h("tr", {}, ["Member", "Role", "Source", "Expires", ""].map((t) =>
				h("th", {scope: "col"}, t)))), h("tbody", {}, rows)),
		form ? h("h2", {}, "Add a member") : null, form);
}
