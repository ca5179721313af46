// Parses Mermaid diagram files with Mermaid's own parser.
// Usage: node check.mjs FILE...   Exit 0 when every file parses; otherwise
// prints "FILE: error" for each failure and exits 1.
// Mermaid needs a DOM (flowcharts fail to parse without one): jsdom gives it.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>", { pretendToBeVisual: true });
globalThis.window = dom.window;
globalThis.document = dom.window.document;
for (const key of ["Element", "HTMLElement", "SVGElement", "Node", "DOMParser", "XMLSerializer", "MutationObserver"]) {
  if (dom.window[key] && !globalThis[key]) globalThis[key] = dom.window[key];
}
if (!globalThis.navigator) {
  Object.defineProperty(globalThis, "navigator", { value: dom.window.navigator, configurable: true });
}

const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

let failed = 0;
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8");
  try {
    await mermaid.parse(text);
    console.log(`${file}: ok`);
  } catch (e) {
    failed++;
    console.log(`${file}: ${String(e && e.message ? e.message : e).replace(/\n/g, " | ")}`);
  }
}
process.exit(failed ? 1 : 0);
