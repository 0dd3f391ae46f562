// Building DOM and SVG elements from plain values: the pages never assemble HTML strings, so a
// resource name or an Envoy message is always shown as text, never interpreted as markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(element, attrs, children) {
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (key === "text") {
      element.textContent = String(value);
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** An HTML element: h("a", {href: "#/mesh"}, "Mesh"). */
export function h(tag, attrs, ...children) {
  return apply(document.createElement(tag), attrs, children);
}

/** An SVG element: s("rect", {x: 0, y: 0, width: 10, height: 10}). */
export function s(tag, attrs, ...children) {
  return apply(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Replace everything inside `element` with `children`. */
export function replace(element, ...children) {
  element.replaceChildren();
  return apply(element, {}, children);
}

/** The error box every page shows when a request fails: it names what failed and why. */
export function errorBox(what, error) {
  return h(
    "div",
    { class: "error", role: "alert", "data-testid": "error" },
    h("strong", { text: `${what} failed` }),
    h("div", { class: "error-detail", text: error instanceof Error ? error.message : String(error) }),
  );
}

/** A link to a route of this app. */
export function routeLink(route, text, attrs = {}) {
  return h("a", { href: `#${route}`, ...attrs }, text);
}
