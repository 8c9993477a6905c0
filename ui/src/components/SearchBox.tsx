import { useEffect, useRef, useState } from "preact/hooks";

/** A search field that applies what was typed after a short pause (or on Enter). */
export function SearchBox({ value, onSearch, label }: { value: string; onSearch: (text: string) => void; label: string }) {
  const [text, setText] = useState(value);
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => setText(value), [value]);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  return (
    <form
      class="search"
      role="search"
      onSubmit={(event) => {
        event.preventDefault();
        window.clearTimeout(timer.current);
        onSearch(text);
      }}
    >
      <label>
        <span class="visually-hidden">{label}</span>
        <input
          type="search"
          placeholder={label}
          value={text}
          onInput={(event) => {
            const next = (event.target as HTMLInputElement).value;
            setText(next);
            window.clearTimeout(timer.current);
            timer.current = window.setTimeout(() => onSearch(next), 300);
          }}
        />
      </label>
    </form>
  );
}
