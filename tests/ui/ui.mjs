// The registry pages in a real browser (tests/integration/test_ui.py gives the plan): sign in,
// home and search, a project's repositories, a repository's tags and their keyset pages, delete a
// tag, the group's page, a phone-width screen, a 401, a Reporter, a user of another tenant.
import {audit, newPage, out, plan, shot, signIn, signOut, walk} from "./browser.mjs";

await walk(async (browser) => {
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
	// the sizes fill in after the table; the cleanup column tells the project's policy
	await page.waitForFunction(() => [...document.querySelectorAll("#repositories td.size")]
		.every((td) => td.textContent !== "…"));
	const webRow = page.locator("#repositories tbody tr", {has: page.getByRole("link", {name: plan.repository, exact: true})});
	out.web_size = await webRow.locator("td.size").innerText();
	out.web_cleanup = await webRow.locator("td.cleanup").innerText();
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
});
