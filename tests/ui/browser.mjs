// What every browser walk shares: Debian's chromium, headless, driven by playwright-core, each
// page checked by axe-core. A Python test (tests/integration/uibrowser.py) starts the registry,
// prepares the data and runs a walk script with a JSON plan (argv[2]); the script walks the pages
// as the users of the plan, saves a screenshot of each page into plan.shots, and prints one JSON
// object of what it saw (out), which the Python test checks against the API.
import {readFileSync} from "node:fs";
import {createRequire} from "node:module";
import {join} from "node:path";
import {chromium} from "playwright-core";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
export const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
export const out = {axe: {}, csp_violations: [], console_errors: [], steps: []};
const TIMEOUT = 15000;
const started = Date.now();

// Runs axe-core on the page as it is; keeps the serious and critical violations by page name.
export async function audit(page, name) {
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

// Saves a screenshot of the whole page as plan.shots/<name>.png.
export async function shot(page, name) {
	const t0 = Date.now();
	await page.screenshot({path: join(plan.shots, name + ".png"), fullPage: true});
	out.steps.push([name, Date.now() - t0, Date.now() - started]);
}

// A fresh browser context (its own sessionStorage) with the listeners every page gets.
export async function newPage(browser, viewport = {width: 1280, height: 800}) {
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

// Signs in as user from the home page, which sends a visitor to the sign-in form.
export async function signIn(page, user) {
	await page.goto(plan.base + "/");
	await page.waitForURL(/\/users\/sign_in/);
	await page.getByLabel("Username or email").fill(user.username);
	await page.getByLabel("Password").fill(user.password);
	await page.getByRole("button", {name: "Sign in"}).click();
	await page.getByRole("heading", {name: "Your projects and groups"}).waitFor();
}

// Signs out with the header's button.
export async function signOut(page) {
	await page.locator("#sign-out").click();
	await page.waitForURL(/\/users\/sign_in$/);
}


// Runs steps(browser) in a fresh headless chromium, then prints out as one JSON line; an error
// is kept in out.error (the Python side fails with it), never thrown.
export async function walk(steps) {
	const browser = await chromium.launch({executablePath: plan.chromium, headless: true,
		args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]});
	try {
		await steps(browser);
	} catch (e) {
		out.error = String(e && e.stack || e);
	} finally {
		await browser.close();
	}
	out.seconds = (Date.now() - started) / 1000;
	console.log(JSON.stringify(out));
}
