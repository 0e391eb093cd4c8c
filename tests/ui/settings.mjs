// A project's settings pages in a real browser (tests/integration/test_ui_settings.py gives the
// plan), in two phases so that the Python side can use the deploy token between them:
// "create": a Maintainer saves a cleanup policy, adds a protection rule and a webhook, creates a
// deploy token (shown once); "revoke": the Maintainer revokes it, adds a member and changes a
// role, a Reporter sees the pages without write controls, a user of another tenant gets 404.
import {audit, newPage, out, plan, shot, signIn, walk} from "./browser.mjs";

const pages = {
	packages: `/${plan.project}/-/settings/packages_and_registries`,
	repository: `/${plan.project}/-/settings/repository`,
	members: `/${plan.project}/-/project_members`,
};

// The write controls a page shows: buttons and fields that are not disabled, copy buttons aside.
async function writeControls(page) {
	return page.locator("main").locator("button:not(.secondary):enabled, input:enabled, select:enabled")
		.count();
}

// Phase "create", as the Maintainer.
async function create(browser) {
	const page = await newPage(browser);
	await signIn(page, plan.maintainer);
	await page.goto(plan.base + `/${plan.project}/container_registry`);
	await page.getByRole("navigation", {name: "Project"})
		.getByRole("link", {name: "Packages and registries settings"}).click();
	await page.locator("#cleanup-policy").waitFor();
	out.packages_url = new URL(page.url()).pathname;
	out.next_run_before = await page.locator("#next-run").innerText();
	out.registry_size = await page.locator("#registry-size").innerText();
	out.storage_limit = await page.locator("#storage-limit").innerText();
	await shot(page, "settings-01-packages");
	await audit(page, "packages");

	// the cleanup policy
	const p = plan.policy;
	await page.getByLabel("Enabled").check();
	await page.getByLabel("Run cleanup").selectOption(p.cadence);
	await page.getByLabel("Keep the most recent").selectOption(String(p.keep_n));
	await page.getByLabel("Keep tags matching (regular expression)").fill(p.name_regex_keep);
	await page.getByLabel("Remove tags older than").selectOption(p.older_than);
	await page.getByLabel("Remove tags matching (regular expression)").fill(p.name_regex);
	await page.getByRole("button", {name: "Save cleanup policy"}).click();
	await page.locator("#cleanup [role=status]", {hasText: "Cleanup policy saved."}).waitFor();
	out.next_run_after = await page.locator("#next-run").innerText();
	// a regex the API refuses: its message on the page
	await page.getByLabel("Remove tags matching (regular expression)").fill("(");
	await page.getByRole("button", {name: "Save cleanup policy"}).click();
	await page.locator("#cleanup [role=alert]").waitFor();
	out.bad_regex_message = await page.locator("#cleanup [role=alert]").innerText();

	// a repository protection rule and a webhook
	await page.getByLabel("Repository path pattern").fill(plan.rule_pattern);
	await page.getByLabel("Minimum role allowed to delete").first().selectOption("owner");
	await page.locator("#repository-rules").getByRole("button", {name: "Add protection rule"}).click();
	await page.locator("#repository-rules code", {hasText: plan.rule_pattern}).waitFor();
	await page.getByLabel("URL", {exact: true}).fill(plan.hook_url);
	await page.getByLabel("Name", {exact: true}).fill("builds");
	await page.getByRole("button", {name: "Add webhook"}).click();
	await page.locator("#hooks code", {hasText: plan.hook_url}).waitFor();
	await shot(page, "settings-02-packages-saved");
	await audit(page, "packages_saved");

	// a deploy token: shown once
	await page.getByRole("navigation", {name: "Project"}).getByRole("link", {name: "Deploy tokens"}).click();
	await page.locator("#create-deploy-token").waitFor();
	await page.getByLabel("Name", {exact: true}).fill(plan.token_name);
	await page.getByLabel("Expiration date (optional)").fill(plan.token_expires);
	await page.getByLabel(/read_registry/).check();
	await page.getByLabel(/write_registry/).check();
	await page.getByRole("button", {name: "Create deploy token"}).click();
	await page.locator("#new-token").waitFor();
	out.token = await page.getByLabel("deploy token", {exact: true}).inputValue();
	out.token_username = await page.getByLabel("deploy token username", {exact: true}).inputValue();
	out.token_rows = await page.locator("#deploy-token-list tbody th").allInnerTexts();
	await shot(page, "settings-03-deploy-token-created");
	await audit(page, "deploy_token_created");
	await page.reload();
	await page.locator("#create-deploy-token").waitFor();
	out.token_after_reload = await page.locator("#new-token").count();
	out.token_in_page_after_reload = await page.evaluate((t) =>
		document.documentElement.outerHTML.includes(t) ||
		[...document.querySelectorAll("input")].some((i) => i.value === t), out.token);
	out.token_rows_after_reload = await page.locator("#deploy-token-list tbody th").allInnerTexts();
	await page.context().close();
}

// Phase "revoke": the Maintainer revokes the token and manages members; then a Reporter and an
// outsider.
async function revoke(browser) {
	let page = await newPage(browser);
	await signIn(page, plan.maintainer);
	await page.goto(plan.base + pages.repository);
	await page.locator("#deploy-token-list").waitFor();
	await page.getByRole("button", {name: "Revoke deploy token " + plan.token_name}).click();
	await page.locator("dialog[open]").waitFor();
	await audit(page, "revoke_dialog");
	await page.locator("dialog[open]").getByRole("button", {name: "Revoke"}).click();
	await page.locator(`tr[data-token="${plan.token_name}"]`).waitFor({state: "detached"});
	out.token_rows_after_revoke = await page.locator("#deploy-token-list tbody th").allInnerTexts();

	await page.getByRole("navigation", {name: "Project"}).getByRole("link", {name: "Members"}).click();
	await page.locator("#members").waitFor();
	await page.getByLabel("Username", {exact: true}).fill("no-such-user-" + plan.newcomer.username);
	await page.getByRole("button", {name: "Add member"}).click();
	await page.locator("main [role=alert]").waitFor();
	out.unknown_user_message = await page.locator("main [role=alert]").innerText();
	await page.getByLabel("Username", {exact: true}).fill(plan.newcomer.username);
	await page.getByLabel("Role", {exact: true}).selectOption("30");
	await page.getByRole("button", {name: "Add member"}).click();
	const row = page.locator(`tr[data-member="${plan.newcomer.username}"]`);
	await row.waitFor();
	out.member_role_added = await row.getByLabel("Role of " + plan.newcomer.username, {exact: true}).inputValue();
	await shot(page, "settings-04-members");
	await audit(page, "members");
	await row.getByLabel("Role of " + plan.newcomer.username, {exact: true}).selectOption("40");
	await row.getByRole("button", {name: "Change role of " + plan.newcomer.username}).click();
	await page.locator("main [role=status]", {hasText: "is now Maintainer"}).waitFor();
	out.members = await page.locator("#members tbody tr").evaluateAll((rows) =>
		rows.map((r) => r.dataset.member));
	// a phone-width screen: nothing wider than the screen
	await page.setViewportSize({width: 375, height: 740});
	out.phone_overflow = {};
	for (const [name, url] of Object.entries(pages)) {
		await page.goto(plan.base + url);
		await page.locator("main h2, #members").first().waitFor();
		out.phone_overflow[name] = await page.evaluate(() =>
			document.documentElement.scrollWidth - document.documentElement.clientWidth);
	}
	await shot(page, "settings-05-phone-members");
	await audit(page, "phone_members");
	await page.context().close();

	// the group's Owner: the namespace's storage limit
	page = await newPage(browser);
	await signIn(page, plan.owner);
	await page.goto(plan.base + pages.packages);
	await page.locator("#storage-limit").waitFor();
	out.owner_registry_size = await page.locator("#registry-size").innerText();
	out.owner_storage_limit = await page.locator("#storage-limit").innerText();
	await page.context().close();

	// a Reporter: every page, no write control
	page = await newPage(browser);
	await signIn(page, plan.reporter);
	out.reporter = {};
	for (const [name, url] of Object.entries(pages)) {
		await page.goto(plan.base + url);
		await page.locator("h1").waitFor();
		await page.locator("main section").first().waitFor();
		out.reporter[name] = {h1: await page.locator("h1").innerText(),
			write_controls: await writeControls(page),
			text: await page.locator("main").innerText()};
		await shot(page, "settings-05-reporter-" + name);
		await audit(page, "reporter_" + name);
	}
	await page.context().close();

	// a user of another tenant: the API's 404 on each page
	page = await newPage(browser);
	await signIn(page, plan.outsider);
	out.outsider = {};
	for (const [name, url] of Object.entries(pages)) {
		await page.goto(plan.base + url);
		out.outsider[name] = await page.locator("[role=alert]").innerText();
	}
	await shot(page, "settings-06-outsider");
	await audit(page, "outsider");
	await page.context().close();
}

await walk(plan.phase === "create" ? create : revoke);
