import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ErrorBanner } from "./ErrorBanner";

/**
 * A modal question with a confirm and a cancel button (the native <dialog>: focus stays
 * inside, Escape cancels). `onConfirm` may be async; its error is shown in the dialog and
 * the dialog stays open, so the user reads why (e.g. "the project is not empty").
 */
export function ConfirmDialog({
  title,
  children,
  confirmLabel = "Confirm",
  danger = false,
  onConfirm,
  onClose,
}: {
  title: string;
  children?: ComponentChildren;
  confirmLabel?: string;
  danger?: boolean;
  onConfirm: () => Promise<void> | void;
  onClose: () => void;
}) {
  return (
    <Dialog title={title} onClose={onClose}>
      {(busy, run) => (
        <>
          <div class="dialog-body">{children}</div>
          <div class="dialog-actions">
            <button type="button" onClick={onClose} disabled={busy}>
              Cancel
            </button>
            <button
              type="button"
              class={danger ? "button-danger" : "button-primary"}
              disabled={busy}
              onClick={() => run(onConfirm)}
            >
              {confirmLabel}
            </button>
          </div>
        </>
      )}
    </Dialog>
  );
}

/**
 * The modal frame itself, for forms in a dialog: `children(busy, run)`, where
 * run(action) runs it, shows its error, and closes the dialog when it succeeded.
 */
export function Dialog({
  title,
  onClose,
  children,
  keepOpen = false,
}: {
  title: string;
  onClose: () => void;
  children: (busy: boolean, run: (action: () => Promise<void> | void) => Promise<void>) => ComponentChildren;
  /** stay open after a successful run (the dialog shows a result, e.g. a secret) */
  keepOpen?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const opener = useRef<Element | null>(null);

  useEffect(() => {
    opener.current = document.activeElement;
    const dialog = ref.current;
    if (dialog && !dialog.open) {
      if (typeof dialog.showModal === "function") dialog.showModal();
      else dialog.setAttribute("open", "");
    }
    return () => {
      // back to the button that opened the dialog (keyboard users keep their place)
      (opener.current as HTMLElement | null)?.focus?.();
    };
  }, []);

  const run = async (action: () => Promise<void> | void) => {
    setBusy(true);
    setError(null);
    try {
      await action();
      setBusy(false);
      if (!keepOpen) onClose();
    } catch (failure) {
      setBusy(false);
      setError(failure);
    }
  };

  return (
    <dialog
      ref={ref}
      class="dialog"
      aria-labelledby="dialog-title"
      onCancel={(event) => {
        event.preventDefault();
        if (!busy) onClose();
      }}
    >
      <h2 id="dialog-title">{title}</h2>
      <ErrorBanner error={error} />
      {children(busy, run)}
    </dialog>
  );
}
