// The web interface in a real browser: Debian's chromium, headless, driven by playwright-core,
// each page checked by axe-core. tests/integration/test_ui.py starts the registry, pushes the
// images and runs this script with a JSON plan (argv[2]); the script walks the pages as the
// users of the plan, saves a screenshot of each page into plan.shots, and prints one JSON object
// of what it saw, which the Python test checks against the API.
import {readFileSync} from "node:fs";
import {createRequire} from "node:module";
import {join} from "node:path";
import {chromium} from "playwright-core";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = {axe: {}, csp_violations: [], console_errors: [], steps: []};
const TIMEOUT = 15000;
const started = Date.now();

// Runs axe-core on the page as it is; keeps the serious and critical violations by page name.
async function audit(page, name) {
	const t0 = Date.now();
	// page.evaluate runs through the DevTools protocol, which the page's CSP does not restrict
	if (!(await page.evaluate(() => typeof window.axe !== "undefined")))
		await page.evaluate(axeSource);
	const res = await page.evaluate(() => window.axe.run(document, {resultTypes: ["violations"]}));
	out.axe[name] = res.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
		.map((v) => ({id: v.id, impact: v.impact, help: v.help,
			nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}));
	out.steps.push(["axe " + name, Date.now() - t0]);
}

async function shot(page, name) {
	const t0 = Date.now();
	await page.screenshot({path: join(plan.shots, name + ".png"), fullPage: true});
	out.steps.push([name, Date.now() - t0, Date.now() - started]);
}

// A fresh browser context (its own sessionStorage) with the listeners every page gets.
async function newPage(browser, viewport = {width: 1280, height: 800}) {
	const context = await browser.newContext({viewport});
	const page = await context.newPage();
	page.setDefaultTimeout(TIMEOUT);
	page.on("console", (m) => {
		if (/Content.Security.Policy/i.test(m.text())) out.csp_violations.push(m.text());
		else if (m.type() === "error" && !/status of 40[01349]/.test(m.text()))
			out.console_errors.push(m.text());
	});
	page.on("pageerror", (e) => out.console_errors.push(String(e)));
	return page;
}

async function signIn(page, user) {
	await page.goto(plan.base + "/");
	await page.waitForURL(/\/users\/sign_in/);
	await page.getByLabel("Username or email").fill(user.username);
	await page.getByLabel("Password").fill(user.password);
	await page.getByRole("button", {name: "Sign in"}).click();
	await page.getByRole("heading", {name: "Your projects and groups"}).waitFor();
}

async function signOut(page) {
	await page.locator("#sign-out").click();
	await page.waitForURL(/\/users\/sign_in$/);
}

const browser = await chromium.launch({executablePath: plan.chromium, headless: true,
	args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]});
try {
	// 1. first visit: the sign-in page, what it costs to load (a fresh cache)
	let page = await newPage(browser);
	await page.goto(plan.base + "/");
	await page.waitForURL(/\/users\/sign_in/);
	await page.getByLabel("Password").waitFor();
	out.first_page_bytes = await page.evaluate(() => {
		const nav = performance.getEntriesByType("navigation")[0];
		return [nav, ...performance.getEntriesByType("resource")]
			.reduce((n, e) => n + (e.transferSize || 0), 0);
	});
	await shot(page, "01-sign-in");
	await audit(page, "sign_in");

	// a wrong password: the API's message, on the page
	await page.getByLabel("Username or email").fill(plan.maintainer.username);
	await page.getByLabel("Password").fill("not-the-password");
	await page.getByRole("button", {name: "Sign in"}).click();
	await page.locator("#sign-in-error").filter({hasText: /./}).waitFor();
	out.wrong_password_message = await page.locator("#sign-in-error").innerText();

	// 2. the maintainer: home, the project's registry, the repository's tags
	await page.getByLabel("Password").fill(plan.maintainer.password);
	await page.getByRole("button", {name: "Sign in"}).click();
	await page.locator("#projects").waitFor();
	out.home_projects = await page.locator("#projects a").allInnerTexts();
	await shot(page, "02-home");
	await audit(page, "home");

	await page.getByLabel("Search by name").fill("no-such-project-anywhere");
	await page.getByRole("button", {name: "Search"}).click();
	await page.getByText("No projects found.").waitFor();
	out.search_empty_url = new URL(page.url()).search;
	await page.goto(plan.base + "/");
	await page.locator("#projects").waitFor();

	await page.locator(`#projects a[href="/${plan.project}/container_registry"]`).click();
	await page.locator("#repositories").waitFor();
	out.project_url = new URL(page.url()).pathname;
	out.ci_registry_image = await page.getByLabel("CI_REGISTRY_IMAGE", {exact: true}).inputValue();
	out.maintainer_repo_delete_buttons = await page.locator("#repositories button.danger").count();
	await shot(page, "03-project-registry");
	await audit(page, "project_registry");

	await page.locator("#repositories a", {hasText: plan.repository}).click();
	await page.locator("#tags").waitFor();
	out.repository_url = new URL(page.url()).pathname;
	out.tags_before = await page.locator("#tags tbody th").allInnerTexts();
	out.digest = await page.locator(`tr[data-tag="${plan.tag}"] code.digest`).innerText();
	out.maintainer_tag_delete_buttons = await page.locator("#tags button.danger").count();
	await shot(page, "04-repository-tags");
	await audit(page, "repository");

	// delete a tag: cancel first, then confirm
	await page.getByRole("button", {name: "Delete tag " + plan.delete_tag}).click();
	await page.locator("dialog[open]").waitFor();
	await shot(page, "05-confirm-delete");
	await audit(page, "confirm_dialog");
	await page.locator("dialog[open]").getByRole("button", {name: "Cancel"}).click();
	out.after_cancel = await page.locator(`tr[data-tag="${plan.delete_tag}"]`).count();
	await page.getByRole("button", {name: "Delete tag " + plan.delete_tag}).click();
	await page.locator("dialog[open]").getByRole("button", {name: "Delete tag"}).click();
	await page.locator(`tr[data-tag="${plan.delete_tag}"]`).waitFor({state: "detached"});
	out.tags_after = await page.locator("#tags tbody th").allInnerTexts();

	// keyset pages of the many-tags repository
	await page.goto(plan.base + plan.paged_repository_url);
	await page.locator("#tags").waitFor();
	out.page1_tags = await page.locator("#tags tbody th").allInnerTexts();
	await page.getByRole("link", {name: "Next page"}).click();
	await page.locator("caption", {hasText: "after"}).waitFor();
	out.page2_tags = await page.locator("#tags tbody th").allInnerTexts();

	// the group's page
	await page.goto(plan.base + plan.group_url);
	await page.locator("#repositories").waitFor();
	out.group_repositories = await page.locator("#repositories tbody th").allInnerTexts();
	await shot(page, "06-group-registry");
	await audit(page, "group_registry");

	// a phone-width screen: nothing wider than the screen
	await page.setViewportSize({width: 375, height: 740});
	await page.goto(plan.base + out.repository_url);
	await page.locator("#tags").waitFor();
	out.phone_overflow = await page.evaluate(() =>
		document.documentElement.scrollWidth - document.documentElement.clientWidth);
	await shot(page, "07-phone-tags");
	await audit(page, "phone_repository");
	await page.setViewportSize({width: 1280, height: 800});

	// an expired or revoked token: the API's 401 sends the user to sign in, then back
	await page.evaluate(() => sessionStorage.setItem("registry.access_token", "revoked"));
	await page.goto(plan.base + out.project_url);
	await page.waitForURL(/\/users\/sign_in\?redirect_to=/);
	out.after_401 = new URL(page.url()).pathname + new URL(page.url()).search;
	await page.getByLabel("Username or email").fill(plan.maintainer.username);
	await page.getByLabel("Password").fill(plan.maintainer.password);
	await page.getByRole("button", {name: "Sign in"}).click();
	await page.locator("#repositories").waitFor();
	out.back_after_sign_in = new URL(page.url()).pathname;
	await signOut(page);
	out.token_after_sign_out = await page.evaluate(() => sessionStorage.getItem("registry.access_token"));
	await page.context().close();

	// 3. a Reporter: reads everything, no delete button anywhere
	page = await newPage(browser);
	await signIn(page, plan.reporter);
	await page.goto(plan.base + out.project_url);
	await page.locator("#repositories").waitFor();
	out.reporter_repo_delete_buttons = await page.locator("button.danger").count();
	await page.goto(plan.base + out.repository_url);
	await page.locator("#tags").waitFor();
	out.reporter_digest = await page.locator(`tr[data-tag="${plan.tag}"] code.digest`).innerText();
	out.reporter_tag_delete_buttons = await page.locator("button.danger").count();
	await shot(page, "08-reporter-tags");
	await page.context().close();

	// 4. a user of another tenant: nothing of it on the home page, 404 on its pages
	page = await newPage(browser);
	await signIn(page, plan.outsider);
	out.outsider_home = await page.locator("main").innerText();
	await page.goto(plan.base + out.project_url);
	out.outsider_project_error = await page.locator("[role=alert]").innerText();
	await shot(page, "09-outsider-project");
	await audit(page, "error_page");
	await page.goto(plan.base + out.repository_url);
	out.outsider_repository_error = await page.locator("[role=alert]").innerText();
	await page.goto(plan.base + plan.group_url);
	out.outsider_group_error = await page.locator("[role=alert]").innerText();
	await page.context().close();
} catch (e) {
	out.error = String(e && e.stack || e);
} finally {
	await browser.close();
}
out.seconds = (Date.now() - started) / 1000;
console.log(JSON.stringify(out));
