// A repository's tags page in a real browser (tests/integration/test_ui_tags.py gives the plan):
// search and sort, the platforms of an index and the referrers of an image, two tags selected
// and deleted together, a protected one that fails, a Reporter, a phone-width screen, and how
// long a repository of 10,000 tags takes to open.
import {audit, newPage, out, plan, shot, signIn, walk} from "./browser.mjs";

const names = (page) => page.locator("#tags tbody th").allInnerTexts();

// Runs action, then waits for the tags page it leads to (a new render, not the one shown).
async function rerender(page, action, ready = "#tags") {
	await page.evaluate(() => document.querySelector("main > section")?.setAttribute("data-old", ""));
	await action();
	await page.locator(`main > section:not([data-old]) ${ready}`).first().waitFor();
}

// The text of a row's cell once /v2 has filled it in.
async function filled(page, tag, cell) {
	const loc = page.locator(`tr[data-tag="${tag}"] td.${cell}`);
	await page.waitForFunction((el) => el && el.textContent !== "…", await loc.elementHandle());
	return loc;
}

await walk(async (browser) => {
	// 1. a Developer: the tags, searched, sorted
	let page = await newPage(browser);
	await signIn(page, plan.developer);
	await page.goto(plan.base + plan.web_url);
	await page.locator("#tags").waitFor();
	out.first = await names(page);
	await filled(page, plan.index_tag, "platforms-cell");
	await filled(page, plan.signed_tag, "referrers-cell");
	out.platforms = await page.locator(`tr[data-tag="${plan.index_tag}"] .platforms li`).allInnerTexts();
	out.image_platforms = await (await filled(page, plan.signed_tag, "platforms-cell")).innerText();
	out.referrers = await page.locator(`tr[data-tag="${plan.signed_tag}"] .referrers li`).evaluateAll(
		(lis) => lis.map((li) => li.querySelector(".artifact-type").textContent + " " +
			li.querySelector("code").textContent));
	out.referrer_digests = await page.locator(`tr[data-tag="${plan.signed_tag}"] .referrers code`)
		.evaluateAll((els) => els.map((e) => e.dataset.digest));
	await shot(page, "tags-01-list");
	await audit(page, "tags");

	await rerender(page, async () => {
		await page.getByLabel("Search tags by name").fill(plan.search);
		await page.getByRole("button", {name: "Search"}).click();
	});
	out.search_url = new URL(page.url()).search;
	out.searched = await names(page);
	await shot(page, "tags-02-searched");
	await audit(page, "searched");

	await rerender(page, async () => {
		await page.getByLabel("Search tags by name").fill("");
		await page.getByLabel("Sort by").selectOption({label: "Name, Z to A"});
		await page.getByRole("button", {name: "Search"}).click();
	});
	out.name_desc = await names(page);
	await rerender(page, async () => {
		await page.getByLabel("Sort by").selectOption({label: "Published, newest first"});
		await page.getByRole("button", {name: "Search"}).click();
	});
	out.published_desc = await names(page);

	// 2. two tags selected, deleted together after one question
	await rerender(page, () => page.goto(plan.base + plan.web_url));
	for (const tag of plan.delete) await page.getByLabel("Select tag " + tag, {exact: true}).check();
	await page.locator("#delete-selected").click();
	await page.locator("dialog[open]").waitFor();
	out.dialog_text = await page.locator("dialog[open] p").innerText();
	await shot(page, "tags-03-bulk-dialog");
	await audit(page, "bulk_dialog");
	await rerender(page, () => page.locator("dialog[open]").getByRole("button", {name: "Delete tags"})
		.click(), "#bulk-deleted");
	out.bulk_deleted = await page.locator("#bulk-deleted").innerText();
	out.after_bulk = await names(page);
	await audit(page, "bulk_outcome");

	// a protected tag: the API refuses, the page says so in its words
	await page.getByLabel("Select tag " + plan.protected, {exact: true}).check();
	await page.locator("#delete-selected").click();
	await rerender(page, () => page.locator("dialog[open]").getByRole("button", {name: "Delete tags"})
		.click(), "#bulk-failures");
	out.bulk_failures = await page.locator("#bulk-failures li").allInnerTexts();
	await shot(page, "tags-04-bulk-failure");

	// a phone-width screen: nothing wider than the screen
	await page.setViewportSize({width: 375, height: 740});
	await rerender(page, () => page.goto(plan.base + plan.web_url));
	out.phone_overflow = await page.evaluate(() =>
		document.documentElement.scrollWidth - document.documentElement.clientWidth);
	await page.setViewportSize({width: 1280, height: 800});
	out.desktop_overflow = await page.evaluate(() =>
		document.documentElement.scrollWidth - document.documentElement.clientWidth);
	await page.setViewportSize({width: 375, height: 740});
	await shot(page, "tags-05-phone");
	await audit(page, "phone_tags");
	await page.setViewportSize({width: 1280, height: 800});

	// 3. 10,000 tags: from navigation to the table shown
	let t0 = Date.now();
	await page.goto(plan.base + plan.huge_url);
	await page.locator("#tags").waitFor();
	out.huge_open_ms = Date.now() - t0;
	out.huge_first = await names(page);
	out.huge_count_text = await page.locator("#repo-summary").innerText();
	await shot(page, "tags-06-huge");
	await audit(page, "huge");
	t0 = Date.now();
	await rerender(page, () => page.goto(plan.base + plan.huge_url + "?sort=name_desc"));
	out.huge_desc_ms = Date.now() - t0;
	out.huge_last_desc = (await names(page))[0];
	// a search and the date order (all 9,999 rows have one time: ties go by name) over pages
	await rerender(page, () => page.goto(plan.base + plan.huge_url + "?name=h099&sort=published_desc"));
	out.huge_searched_page1 = await names(page);
	await rerender(page, () => page.getByRole("link", {name: "Next page"}).click());
	out.huge_searched_page2 = await names(page);
	out.huge_searched_page2_url = new URL(page.url()).search;
	await page.context().close();

	// 4. a Reporter: the same list, no checkbox, no delete button
	page = await newPage(browser);
	await signIn(page, plan.reporter);
	await page.goto(plan.base + plan.web_url);
	await page.locator("#tags").waitFor();
	out.reporter_tags = await names(page);
	out.reporter_checkboxes = await page.locator("main input[type=checkbox]").count();
	out.reporter_delete_buttons = await page.locator("main button.danger").count();
	await filled(page, plan.index_tag, "platforms-cell");
	out.reporter_platforms = await page.locator(`tr[data-tag="${plan.index_tag}"] .platforms li`)
		.allInnerTexts();
	await shot(page, "tags-07-reporter");
	await audit(page, "reporter");
	await page.context().close();
});
