// The registry's public API, as the interface calls it: /api/v4 with the OAuth access token of
// the signed-in user in an Authorization header (docs/UI.md: why a header and sessionStorage),
// and the OAuth password grant to sign in.

const TOKEN_KEY = "registry.access_token";

// An answer of the API that is not a success: status and the message the API gave.
export class ApiError extends Error {
	constructor(status, message) {
		super(message);
		this.status = status;
	}
}

export function token() {
	return sessionStorage.getItem(TOKEN_KEY);
}

// Forgets the token (it stays valid on the server: a 401 says it is dead already).
export function forget() {
	sessionStorage.removeItem(TOKEN_KEY);
}

// Signs out: revokes the token (POST /oauth/revoke, RFC 7009), then forgets it; forgotten
// even when the registry cannot be reached (it then expires on its own).
export async function signOut() {
	const t = token();
	if (t) {
		try {
			await fetch("/oauth/revoke", {method: "POST", body: new URLSearchParams({token: t}),
				credentials: "omit", headers: {Accept: "application/json"}});
		} catch { /* unreachable: forget it all the same */ }
	}
	forget();
}

// The message of an error body, in any of the API's shapes: GitLab's {"message": ...} (a string,
// or field errors), OAuth's {"error", "error_description"}, or a bare {"error": ...}.
function messageOf(status, body) {
	if (body && typeof body === "object") {
		const m = body.message;
		if (typeof m === "string") return m;
		if (m && typeof m === "object")
			return Object.entries(m).map(([k, v]) => k + " " + [].concat(v).join(", ")).join("; ");
		if (body.error_description) return body.error_description;
		if (typeof body.error === "string") return body.error;
	}
	return status + " " + (status === 0 ? "network error" : "error");
}

// Sends the user to the sign-in page, back here after signing in (once: several calls that
// fail together go there once).
export function toSignIn() {
	if (location.pathname === "/users/sign_in") return;
	const back = location.pathname + location.search;
	history.pushState(null, "", "/users/sign_in" + (back === "/" ? "" :
		"?redirect_to=" + encodeURIComponent(back)));
	dispatchEvent(new PopStateEvent("popstate"));
}

// Calls /api/v4<path>; answers {data, headers}. A 401 forgets the token and goes to sign in.
export async function api(path, {method = "GET", body} = {}) {
	const headers = {Accept: "application/json"};
	if (token()) headers.Authorization = "Bearer " + token();
	if (body !== undefined) headers["Content-Type"] = "application/json";
	let r;
	try {
		r = await fetch("/api/v4" + path, {method, headers, credentials: "omit",
			body: body === undefined ? undefined : JSON.stringify(body)});
	} catch (e) {
		throw new ApiError(0, "The registry cannot be reached: " + e.message);
	}
	const text = await r.text();
	let data = null;
	try { data = text ? JSON.parse(text) : null; } catch { data = null; }
	if (r.status === 401) {
		forget();
		toSignIn();
		throw new ApiError(401, messageOf(401, data));
	}
	if (!r.ok) throw new ApiError(r.status, messageOf(r.status, data));
	return {data, headers: r.headers};
}

// The OAuth password grant: keeps the access token on success, throws the API's message if not.
export async function signIn(username, password) {
	const form = new URLSearchParams({grant_type: "password", username, password});
	const r = await fetch("/oauth/token", {method: "POST", body: form, credentials: "omit",
		headers: {Accept: "application/json"}});
	let data = null;
	try { data = await r.json(); } catch { data = null; }
	if (!r.ok || !data || !data.access_token) throw new ApiError(r.status, messageOf(r.status, data));
	sessionStorage.setItem(TOKEN_KEY, data.access_token);
}

// A path or id as /api/v4 takes it in a URL: "group/project" URL-encoded.
export function enc(id) {
	return encodeURIComponent(String(id));
}

// The URL of rel="next" in a Link header, or null.
export function nextLink(headers) {
	const link = headers.get("Link") || "";
	const m = link.split(",").map((s) => s.match(/<([^>]*)>\s*;\s*rel="next"/)).find(Boolean);
	return m ? m[1] : null;
}
