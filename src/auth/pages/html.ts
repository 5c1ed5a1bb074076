const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for HTML element content and quoted attribute values. */
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);

/** A whole page; `wide` for pages with tables (the account pages), which still fold to one column on a phone. */
export function page(title: string, body: string, options: { wide?: boolean } = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; background: #f4f5f7; color: #1d2330; margin: 0; }
  main { max-width: 22rem; margin: 12vh auto; background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.12); }
  h1 { font-size: 1.4rem; margin: 0 0 1.2rem; }
  label { display: block; margin: .8rem 0 .2rem; font-weight: 600; }
  input { width: 100%; box-sizing: border-box; padding: .55rem; font-size: 1rem; border: 1px solid #c3c8d2; border-radius: 4px; }
  button { margin-top: 1.4rem; width: 100%; padding: .65rem; font-size: 1rem; border: 0; border-radius: 4px; background: #2451c7; color: #fff; cursor: pointer; }
  .error { background: #fdecec; color: #8a1c1c; padding: .6rem; border-radius: 4px; }
  .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
  main.wide { max-width: 46rem; margin: 4vh auto; }
  .notice { background: #e8f4ea; color: #1d5a2a; padding: .6rem; border-radius: 4px; }
  .field-error { color: #8a1c1c; margin: .2rem 0 0; font-size: .95rem; }
  input[aria-invalid="true"] { border-color: #b3261e; }
  nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: .4rem 1rem; padding: 0; margin: 0 0 1.2rem; }
  nav a[aria-current="page"] { font-weight: 700; }
  a:focus, button:focus, input:focus { outline: 3px solid #8fb0ff; outline-offset: 1px; }
  table { width: 100%; border-collapse: collapse; margin: .6rem 0; }
  th, td { text-align: left; padding: .4rem; border-bottom: 1px solid #e1e4ea; vertical-align: top; overflow-wrap: anywhere; }
  td button, .inline button { width: auto; margin: 0; padding: .35rem .7rem; white-space: nowrap; overflow-wrap: normal; }
  code { overflow-wrap: anywhere; }
  .qr svg { width: 12rem; height: 12rem; display: block; margin: .6rem 0; }
  @media (max-width: 36rem) {
    main, main.wide { margin: 0; border-radius: 0; box-shadow: none; padding: 1.2rem; }
    th, td { padding: .3rem .2rem; font-size: .9rem; }
  }
</style>
</head>
<body><main${options.wide ? ' class="wide"' : ""}>
${body}
</main></body>
</html>
`;
}
