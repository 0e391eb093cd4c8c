// The admin area in a real browser (tests/integration/test_ui_admin.py gives the plan): the
// overview (health, storage per top-level namespace), a user created in the form, who signs in,
// is blocked and cannot sign in; a blocked user unblocked, who then can; a user who is no admin; Sign out revoking
// the token.
import {audit, newPage, out, plan, shot, signIn, signOut, walk} from "./browser.mjs";

// The text of the sign-in form's error after trying user's password on a fresh page.
async function trySignIn(browser, user) {
	const page = await newPage(browser);
	await page.goto(plan.base + "/users/sign_in");
	await page.getByLabel("Username or email").fill(user.username);
	await page.getByLabel("Password").fill(user.password);
	await page.getByRole("button", {name: "Sign in"}).click();
	const home = page.getByRole("heading", {name: "Your projects and groups"});
	const error = page.locator("#sign-in-error").filter({hasText: /./});
	await home.or(error).waitFor();
	const result = await error.count() ? {error: await error.innerText()} : {signed_in: true};
	await page.context().close();
	return result;
}

await walk(async (browser) => {
	// 1. the admin: the header's link, the overview
	let page = await newPage(browser);
	await signIn(page, plan.admin);
	out.admin_link = await page.locator("#admin-link").count();
	await page.locator("#admin-link").click();
	await page.waitForURL(/\/admin$/);
	await page.locator("#health").waitFor();
	out.readiness = await page.locator("#readiness").getAttribute("data-ok");
	out.readiness_text = await page.locator("#readiness").innerText();
	out.liveness = await page.locator("#liveness").getAttribute("data-ok");
	await page.getByLabel("Search namespaces by name or path").fill(plan.namespace);
	await page.getByRole("button", {name: "Search"}).click();
	const row = page.locator(`#usage tr[data-namespace="${plan.namespace}"]`);
	await row.waitFor();
	out.usage_bytes = await row.locator(".usage-bytes").innerText();
	out.overview_url = new URL(page.url()).pathname + new URL(page.url()).search;
	await shot(page, "admin-01-overview");
	await audit(page, "admin_overview");

	// 2. a new user in the form: first a taken username (the API's message), then the real one
	await page.locator("nav[aria-label='Admin area'] a", {hasText: "New user"}).click();
	await page.locator("#new-user").waitFor();
	const fill = async (u) => {
		await page.getByLabel("Name", {exact: true}).fill(u.name);
		await page.getByLabel("Username", {exact: true}).fill(u.username);
		await page.getByLabel("Email").fill(u.email);
		await page.getByLabel("Password").fill(u.password);
		await page.getByRole("button", {name: "Create user"}).click();
	};
	await fill({...plan.new_user, username: plan.admin.username, email: "x-" + plan.new_user.email});
	await page.locator("#new-user-error").filter({hasText: /./}).waitFor();
	out.taken_message = await page.locator("#new-user-error").innerText();
	await shot(page, "admin-02-new-user-error");
	await audit(page, "admin_new_user");
	await fill(plan.new_user);
	await page.waitForURL(/\/admin\/users\?search=/);
	const userRow = page.locator(`#users tr[data-user="${plan.new_user.username}"]`);
	await userRow.waitFor();
	out.created_state = await userRow.locator(".state").innerText();
	await shot(page, "admin-03-users");
	await audit(page, "admin_users");

	// the new user signs in
	out.new_user_first = await trySignIn(browser, plan.new_user);

	// 3. block it (cancel first), then it cannot sign in; unblock it
	await page.getByRole("button", {name: "Block " + plan.new_user.username}).click();
	await page.locator("dialog[open]").waitFor();
	await shot(page, "admin-04-confirm-block");
	await audit(page, "admin_confirm_block");
	await page.locator("dialog[open]").getByRole("button", {name: "Cancel"}).click();
	out.after_cancel_state = await userRow.locator(".state").innerText();
	await page.getByRole("button", {name: "Block " + plan.new_user.username}).click();
	await page.locator("dialog[open]").getByRole("button", {name: "Block user"}).click();
	await userRow.locator(".state", {hasText: "blocked"}).waitFor();
	out.blocked_state = await userRow.locator(".state").innerText();
	out.block_status = await page.locator("main [role=status]").innerText();
	out.focus_after_block = await page.evaluate(() => document.activeElement.getAttribute("aria-label"));
	await shot(page, "admin-05-blocked");
	out.new_user_blocked = await trySignIn(browser, plan.new_user);

	// unblock a user the plan blocked through the API
	await page.goto(plan.base + "/admin/users?search=" + encodeURIComponent(plan.blocked.username));
	const blockedRow = page.locator(`#users tr[data-user="${plan.blocked.username}"]`);
	await blockedRow.waitFor();
	out.blocked_user_state = await blockedRow.locator(".state").innerText();
	await page.getByRole("button", {name: "Unblock " + plan.blocked.username}).click();
	await page.locator("dialog[open]").getByRole("button", {name: "Unblock user"}).click();
	await blockedRow.locator(".state", {hasText: "active"}).waitFor();
	out.unblocked_state = await blockedRow.locator(".state").innerText();
	out.blocked_after_unblock = await trySignIn(browser, plan.blocked);

	// a phone-width screen: the users table and the overview as cards, nothing wider
	await page.setViewportSize({width: 375, height: 740});
	out.phone_overflow = {};
	for (const [path, table] of [["/admin/users?search=" + encodeURIComponent(plan.new_user.username), "#users"],
		["/admin?search=" + encodeURIComponent(plan.namespace), "#usage"]]) {
		await page.goto(plan.base + path);
		await page.locator(table).waitFor();
		out.phone_overflow[path] = await page.evaluate(() =>
			document.documentElement.scrollWidth - document.documentElement.clientWidth);
	}
	await shot(page, "admin-08-phone-overview");
	await audit(page, "admin_phone_overview");
	await page.setViewportSize({width: 1280, height: 800});
	await signOut(page);
	await page.context().close();

	// 4. a user who is no admin: no link, the refusal on every admin page
	page = await newPage(browser);
	await signIn(page, plan.user);
	out.user_admin_link = await page.locator("#admin-link").count();
	out.refused = {};
	for (const path of ["/admin", "/admin/users", "/admin/users/new"]) {
		await page.goto(plan.base + path);
		await page.locator("#admin-refused").waitFor();
		out.refused[path] = await page.locator("main").innerText();
	}
	await shot(page, "admin-06-refused");
	await audit(page, "admin_refused");

	// 5. Sign out revokes: the token the tab held
	out.token_before_sign_out = await page.evaluate(() => sessionStorage.getItem("registry.access_token"));
	await signOut(page);
	out.token_after_sign_out = await page.evaluate(() => sessionStorage.getItem("registry.access_token"));
	await shot(page, "admin-07-signed-out");
	await page.context().close();
});
