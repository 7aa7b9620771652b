// A tiny element builder: enough structure for a few forms and lists without a framework
// (and without a Vite plugin to compile one).

type Child = Node | string | null | undefined | false
type Attributes = Record<string, string | boolean | undefined | EventListener>

/**
 * `element('button', { type: 'button', onclick: handler }, 'Save')`. Keys starting with "on"
 * add listeners; `true` sets a boolean attribute, `false`/undefined leaves it out.
 */
export function element<K extends keyof HTMLElementTagNameMap> (
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(attributes)) {
    if (typeof value === 'function') node.addEventListener(key.slice(2), value)
    else if (value === true) node.setAttribute(key, '')
    else if (typeof value === 'string') node.setAttribute(key, value)
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    node.append(child)
  }
  return node
}

/** Replaces every child of `parent`. */
export function replaceChildren (parent: Element, ...children: Child[]): void {
  parent.replaceChildren(...children.filter((child): child is Node | string => child !== null && child !== undefined && child !== false))
}
