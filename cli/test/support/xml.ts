/**
 * A minimal, strict XML well-formedness checker for the plan's SVG (no dependency): prolog, comments,
 * elements with quoted attributes (no duplicates), character and entity references, balanced tags, one
 * root element, nothing but whitespace outside it. Returns the element tree; throws on the first error
 * with its offset. No DTDs, CDATA or processing instructions other than the XML declaration.
 */
export interface XmlElement {
  readonly name: string;
  readonly attributes: Record<string, string>;
  readonly children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*/;
const REFERENCE = /^&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/;

function checkText(text: string, at: number): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '<') {
      throw new Error(`unexpected "<" at ${at + i}`);
    }
    if (c === '&') {
      const m = REFERENCE.exec(text.slice(i));
      if (!m) {
        throw new Error(`bare "&" (not an entity reference) at ${at + i}`);
      }
      out += m[0];
      i += m[0].length - 1;
      continue;
    }
    out += c;
  }
  return out;
}

export function parseXml(source: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  if (source.startsWith('<?xml')) {
    const end = source.indexOf('?>');
    if (end < 0) {
      throw new Error('unterminated XML declaration');
    }
    i = end + 2;
  }
  while (i < source.length) {
    const lt = source.indexOf('<', i);
    const text = source.slice(i, lt < 0 ? source.length : lt);
    if (stack.length === 0) {
      if (text.trim() !== '') {
        throw new Error(`text outside the root element at ${i}`);
      }
    } else {
      stack[stack.length - 1]!.text += checkText(text, i);
    }
    if (lt < 0) {
      break;
    }
    i = lt;
    if (source.startsWith('<!--', i)) {
      const end = source.indexOf('-->', i + 4);
      if (end < 0) {
        throw new Error(`unterminated comment at ${i}`);
      }
      i = end + 3;
      continue;
    }
    if (source.startsWith('</', i)) {
      const m = NAME.exec(source.slice(i + 2));
      if (!m) {
        throw new Error(`bad end tag at ${i}`);
      }
      const close = source.indexOf('>', i);
      if (close < 0 || source.slice(i + 2 + m[0].length, close).trim() !== '') {
        throw new Error(`bad end tag at ${i}`);
      }
      const open = stack.pop();
      if (!open || open.name !== m[0]) {
        throw new Error(`end tag </${m[0]}> at ${i} does not match <${open?.name ?? '(none)'}>`);
      }
      i = close + 1;
      continue;
    }
    if (source.startsWith('<!', i) || source.startsWith('<?', i)) {
      throw new Error(`unsupported markup at ${i}`);
    }
    const m = NAME.exec(source.slice(i + 1));
    if (!m) {
      throw new Error(`bad start tag at ${i}`);
    }
    const element: XmlElement = { name: m[0], attributes: {}, children: [], text: '' };
    i += 1 + m[0].length;
    let selfClosing = false;
    for (;;) {
      const ws = /^\s*/.exec(source.slice(i))![0];
      i += ws.length;
      if (source.startsWith('/>', i)) {
        selfClosing = true;
        i += 2;
        break;
      }
      if (source[i] === '>') {
        i += 1;
        break;
      }
      if (ws === '') {
        throw new Error(`expected whitespace before an attribute at ${i}`);
      }
      const a = NAME.exec(source.slice(i));
      if (!a) {
        throw new Error(`bad attribute name at ${i}`);
      }
      i += a[0].length;
      const eq = /^\s*=\s*/.exec(source.slice(i));
      if (!eq) {
        throw new Error(`attribute ${a[0]} has no "=" at ${i}`);
      }
      i += eq[0].length;
      const quote = source[i];
      if (quote !== '"' && quote !== "'") {
        throw new Error(`attribute ${a[0]} value is not quoted at ${i}`);
      }
      const end = source.indexOf(quote, i + 1);
      if (end < 0) {
        throw new Error(`unterminated attribute ${a[0]} at ${i}`);
      }
      if (a[0] in element.attributes) {
        throw new Error(`duplicate attribute ${a[0]} at ${i}`);
      }
      element.attributes[a[0]] = checkText(source.slice(i + 1, end), i + 1);
      i = end + 1;
    }
    if (stack.length > 0) {
      stack[stack.length - 1]!.children.push(element);
    } else if (root) {
      throw new Error(`second root element <${element.name}> at ${i}`);
    } else {
      root = element;
    }
    if (!selfClosing) {
      stack.push(element);
    }
  }
  if (stack.length > 0) {
    throw new Error(`unclosed element <${stack[stack.length - 1]!.name}>`);
  }
  if (!root) {
    throw new Error('no root element');
  }
  return root;
}

/** Every element of the tree, depth first. */
export function allElements(root: XmlElement): XmlElement[] {
  return [root, ...root.children.flatMap(allElements)];
}
