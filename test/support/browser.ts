/** A tiny cookie-keeping browser over fetch: redirects are not followed, so tests see each hop. */
export function cookieBrowser(base: string) {
  const jar = new Map<string, string>();
  const remember = (res: Response) => {
    for (const line of res.headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (eq > 0) value ? jar.set(name, value) : jar.delete(name);
    }
    return res;
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
  return {
    jar,
    get: async (path: string, headers: Record<string, string> = {}) =>
      remember(await fetch(base + path, { headers: { cookie: cookie(), accept: "text/html", ...headers }, redirect: "manual" })),
    post: async (path: string, form: Record<string, string>) =>
      remember(
        await fetch(base + path, {
          method: "POST",
          headers: { cookie: cookie(), "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams(form).toString(),
          redirect: "manual",
        }),
      ),
  };
}

/** Signs the browser out the way a person does: opens /signout and submits its form. */
export async function signOutVia(b: ReturnType<typeof cookieBrowser>): Promise<Response> {
  const csrf = csrfOf(await (await b.get("/signout")).text());
  return b.post("/signout", { csrf });
}

export const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";

/**
 * Signs in through the hosted page the way a browser does (form, CSRF double submit) and returns
 * the session cookie's value: the only real cookie, since Redis keeps just its hash.
 */
export async function browserSignIn(baseUrl: string, email: string, password: string, cookieName = "auth_session"): Promise<string> {
  const b = cookieBrowser(baseUrl);
  const form = await b.get("/signin?return_to=/");
  const csrf = csrfOf(await form.text());
  const res = await b.post("/signin", { email, password, csrf, return_to: "/" });
  const value = b.jar.get(cookieName);
  if (res.status !== 303 || !value) throw new Error(`hosted sign-in at ${baseUrl} answered ${res.status} without a ${cookieName} cookie`);
  return value;
}
