// Tests query the DOM the panels just rendered (HTML, no SVG queried by selector): read what they find as
// HTMLElements. A form control's own properties (value, disabled) still need a JSDoc cast.
interface ParentNode {
  querySelector<E extends Element = HTMLElement>(selectors: string): E | null;
  querySelectorAll<E extends Element = HTMLElement>(selectors: string): NodeListOf<E>;
}
