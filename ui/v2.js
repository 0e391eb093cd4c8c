// The registry's /v2 API (the OCI distribution API), for what /api/v4 does not tell: the
// platforms of a multi-arch index and the referrers of a manifest. A registry token comes from
// the token service (/jwt/auth) with the signed-in user's OAuth access token as the password of
// the user "oauth2", as GitLab takes it; it grants pull on one repository path at a time.
import {token} from "./api.js";

export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPT = [OCI_INDEX, DOCKER_LIST, "application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json"].join(", ");

const tokens = new Map(); // "<OAuth token> <repository path>" -> {value, until (ms)}
const manifests = new Map(); // "<path> <digest>" -> a promise of it (a digest's bytes never change)

// An answer of /v2 or /jwt/auth that is not a success, with the message the registry gave.
export class V2Error extends Error {
	constructor(status, message) {
		super(message);
		this.status = status;
	}
}

// The message of a /v2 error body ({"errors": [{code, message}]}) or a token service one.
async function failure(r) {
	let body = null;
	try { body = await r.json(); } catch { body = null; }
	const e = body && Array.isArray(body.errors) && body.errors[0];
	const message = e ? e.message || e.code : body && (body.message || body.details || body.error);
	return new V2Error(r.status, typeof message === "string" ? message : r.status + " error");
}

// A registry token for pulling from path, kept until a little before it expires.
async function registryToken(path) {
	const key = token() + " " + path;
	const held = tokens.get(key);
	if (held && held.until > Date.now()) return held.value;
	const scope = `repository:${path}:pull`;
	const r = await fetch("/jwt/auth?service=container_registry&scope=" + encodeURIComponent(scope), {
		credentials: "omit",
		headers: {Accept: "application/json", Authorization: "Basic " + btoa("oauth2:" + token())},
	});
	if (!r.ok) throw await failure(r);
	const body = await r.json();
	const value = body.token || body.access_token;
	tokens.set(key, {value, until: Date.now() + Math.max(0, (body.expires_in || 60) - 30) * 1000});
	return value;
}

// GET /v2/<path>/<what>, parsed JSON.
async function get(path, what, accept) {
	const r = await fetch(`/v2/${path}/${what}`, {credentials: "omit", headers: {
		Accept: accept, Authorization: "Bearer " + await registryToken(path)}});
	if (!r.ok) throw await failure(r);
	return r.json();
}

// The manifest of digest in the repository path, as the registry stores it (an index stays one);
// asked once per digest while the tab lives.
export function manifest(path, digest) {
	const key = path + " " + digest;
	if (!manifests.has(key)) {
		const p = get(path, "manifests/" + digest, ACCEPT);
		p.catch(() => manifests.delete(key));
		manifests.set(key, p);
	}
	return manifests.get(key);
}

// Whether a manifest is a multi-arch index (an OCI image index or a Docker manifest list).
export function isIndex(m) {
	return m && (m.mediaType === OCI_INDEX || m.mediaType === DOCKER_LIST ||
		(!m.mediaType && Array.isArray(m.manifests)));
}

// The platforms of an index, "os/architecture[/variant]", in its order; entries without a
// platform or with "unknown" ones (build attestations) are left out.
export function platforms(index) {
	return (index.manifests || []).map((d) => d.platform).filter((p) => p && p.os && p.architecture &&
		p.os !== "unknown" && p.architecture !== "unknown")
		.map((p) => [p.os, p.architecture, p.variant].filter(Boolean).join("/"));
}

// The manifests whose subject is digest (signatures, SBOMs...): the descriptors of the
// referrers index, each with its artifactType, digest, size and annotations.
export async function referrers(path, digest) {
	return (await get(path, "referrers/" + digest, OCI_INDEX)).manifests || [];
}
