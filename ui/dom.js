// DOM helpers: the interface builds its elements with h(), never from HTML strings, so that
// text from the API is always text (the Content-Security-Policy forbids inline script anyway).

// An element: h("a", {href: "/", class: "x", onclick: fn}, "text", child, [more children]).
export function h(tag, attrs, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === false || v === null || v === undefined) continue;
		if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
		else if (k === "class") el.className = v;
		else if (v === true) el.setAttribute(k, "");
		else el.setAttribute(k, String(v));
	}
	append(el, children);
	return el;
}

// Appends children (strings, numbers, nodes, nested arrays; null skipped) to el.
export function append(el, children) {
	for (const c of children.flat(Infinity)) {
		if (c === null || c === undefined || c === false) continue;
		el.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
	return el;
}

// Replaces everything in el by children.
export function replace(el, ...children) {
	el.replaceChildren();
	return append(el, children);
}

// A byte count as people read it ("12.3 MiB").
export function bytes(n) {
	if (n === null || n === undefined) return "–";
	const units = ["B", "KiB", "MiB", "GiB", "TiB"];
	let i = 0;
	while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
	return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

// A timestamp as a short local date and time, with the exact value in the title.
export function when(iso) {
	if (!iso) return "–";
	const d = new Date(iso);
	return h("time", {datetime: iso, title: iso}, d.toLocaleString());
}

// A read-only field with a button that copies its value.
export function copyable(label, value) {
	const input = h("input", {type: "text", readonly: true, value, "aria-label": label,
		class: "copy-field", onfocus: (e) => e.target.select()});
	const button = h("button", {type: "button", class: "secondary", "aria-label": "Copy " + label,
		onclick: async () => {
			try { await navigator.clipboard.writeText(value); button.textContent = "Copied"; }
			catch { input.select(); }
		}}, "Copy");
	return h("div", {class: "copy"}, input, button);
}

// Asks a yes/no question in a modal <dialog>; resolves true when confirmed.
export function confirmDialog(title, text, action) {
	return new Promise((resolve) => {
		const dlg = h("dialog", {"aria-labelledby": "dlg-title", class: "confirm"},
			h("h2", {id: "dlg-title"}, title),
			h("p", {}, text),
			h("form", {method: "dialog", class: "actions"},
				h("button", {value: "cancel", class: "secondary"}, "Cancel"),
				h("button", {value: "ok", class: "danger"}, action)));
		dlg.addEventListener("close", () => { dlg.remove(); resolve(dlg.returnValue === "ok"); });
		document.body.append(dlg);
		dlg.showModal();
	});
}
