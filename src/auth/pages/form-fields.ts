import { escapeHtml } from "./html.js";

export interface FieldOptions {
  name: string;
  label: string;
  type?: string;
  autocomplete?: string;
  required?: boolean;
  maxlength?: number;
  minlength?: number;
  hint?: string;
  /** The error for this field: shown under it and tied to it (aria-describedby, aria-invalid), WCAG 3.3.1. */
  error?: string | undefined;
  inputmode?: string;
  /** What the user typed, given back after a refusal (never for passwords). */
  value?: string;
}

/** A labelled input whose hint and error a screen reader reads with it. */
export function field(o: FieldOptions): string {
  const described = [o.hint ? `${o.name}-hint` : "", o.error ? `${o.name}-error` : ""].filter(Boolean).join(" ");
  const attrs = [
    `id="${o.name}"`,
    `name="${o.name}"`,
    `type="${o.type ?? "text"}"`,
    o.value ? `value="${escapeHtml(o.value)}"` : "",
    o.autocomplete ? `autocomplete="${o.autocomplete}"` : "",
    o.required === false ? "" : "required",
    o.maxlength ? `maxlength="${o.maxlength}"` : "",
    o.minlength ? `minlength="${o.minlength}"` : "",
    o.inputmode ? `inputmode="${o.inputmode}"` : "",
    described ? `aria-describedby="${described}"` : "",
    o.error ? `aria-invalid="true"` : "",
  ].filter(Boolean);
  return `<label for="${o.name}">${escapeHtml(o.label)}</label>
  <input ${attrs.join(" ")}>
  ${o.hint ? `<p id="${o.name}-hint" class="hint">${escapeHtml(o.hint)}</p>` : ""}
  ${o.error ? `<p id="${o.name}-error" class="field-error">${escapeHtml(o.error)}</p>` : ""}`;
}

/** The summary at the top of a page: announced at once (role=alert). */
export const alertBox = (message: string | undefined) => (message ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : "");
export const noticeBox = (message: string | undefined) => (message ? `<p class="notice" role="status">${escapeHtml(message)}</p>` : "");
export const csrfInput = (token: string) => `<input type="hidden" name="csrf" value="${escapeHtml(token)}">`;
