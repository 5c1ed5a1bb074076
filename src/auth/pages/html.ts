const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for HTML element content and quoted attribute values. */
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);

export function page(title: string, body: string): string {
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
</style>
</head>
<body><main>
${body}
</main></body>
</html>
`;
}
