import type { ComponentChildren } from "preact";

/** An error in plain words (ApiError's message), announced to screen readers. */
export function ErrorBanner({
  error,
  onDismiss,
  children,
}: {
  error: unknown;
  onDismiss?: () => void;
  children?: ComponentChildren;
}) {
  if (!error) return null;
  const text = error instanceof Error ? error.message : String(error);
  return (
    <div class="banner banner-error" role="alert">
      <p>{text}</p>
      {children}
      {onDismiss && (
        <button type="button" class="button-plain" onClick={onDismiss} aria-label="Dismiss this message">
          ×
        </button>
      )}
    </div>
  );
}

/** A short confirmation of what just happened. */
export function Notice({ text, onDismiss }: { text: string; onDismiss?: () => void }) {
  if (!text) return null;
  return (
    <div class="banner banner-ok" role="status">
      <p>{text}</p>
      {onDismiss && (
        <button type="button" class="button-plain" onClick={onDismiss} aria-label="Dismiss this message">
          ×
        </button>
      )}
    </div>
  );
}
