import { useState } from "preact/hooks";

async function writeClipboard(text: string): Promise<void> {
  if (navigator.clipboard?.writeText) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // plain http on another host than localhost: no Clipboard API; the old way
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.appendChild(area);
  area.select();
  const copied = document.execCommand?.("copy");
  area.remove();
  if (!copied) throw new Error("copy refused");
}

/** Copies `text`; says "Copied" for a moment (announced), or that it could not. */
export function CopyButton({ text, label = "Copy", what }: { text: string; label?: string; what?: string }) {
  const [state, setState] = useState<"idle" | "done" | "failed">("idle");
  const copy = async () => {
    try {
      await writeClipboard(text);
      setState("done");
    } catch {
      setState("failed");
    }
    window.setTimeout(() => setState("idle"), 2000);
  };
  const shown = state === "done" ? "Copied" : state === "failed" ? "Select and copy" : label;
  return (
    <button type="button" class="button-small" onClick={copy} aria-label={what ? `${shown} ${what}` : shown} data-copy={text}>
      <span aria-live="polite">{shown}</span>
    </button>
  );
}

/** A value in monospace with its copy button. */
export function Copyable({ text, what }: { text: string; what: string }) {
  return (
    <span class="copyable">
      <code>{text}</code>
      <CopyButton text={text} what={what} />
    </span>
  );
}
