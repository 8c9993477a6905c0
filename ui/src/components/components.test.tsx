import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { describe, expect, it, vi } from "vitest";
import { ConfirmDialog } from "./ConfirmDialog";
import { CopyButton } from "./CopyButton";
import { EmptyState } from "./EmptyState";
import { ErrorBanner } from "./ErrorBanner";
import { nextSort, Table, type Column } from "./Table";

interface Row {
  id: number;
  name: string;
}
const columns: Column<Row>[] = [
  { key: "name", label: "Name", sort: "name", render: (r) => r.name },
  { key: "id", label: "Id", kind: "num", render: (r) => r.id },
];

describe("Table", () => {
  it("sorts by a column: ascending, then descending", () => {
    expect(nextSort(undefined, "name")).toBe("name");
    expect(nextSort("name", "name")).toBe("-name");
    expect(nextSort("-name", "name")).toBe("name");
    const onSort = vi.fn();
    render(<Table caption="Things" columns={columns} rows={[{ id: 1, name: "a" }]} rowKey={(r) => r.id} sort="-name" onSort={onSort} />);
    expect(screen.getByRole("columnheader", { name: /Name/ }).getAttribute("aria-sort")).toBe("descending");
    fireEvent.click(screen.getByRole("button", { name: /Name/ }));
    expect(onSort).toHaveBeenCalledWith("name");
  });

  it("pages: the range, previous and next", () => {
    const onPage = vi.fn();
    const rows = Array.from({ length: 15 }, (_, i) => ({ id: i, name: `n${i}` }));
    render(<Table caption="Things" columns={columns} rows={rows} rowKey={(r) => r.id} page={2} pageSize={15} total={40} onPage={onPage} />);
    expect(screen.getByText("16–30 of 40")).toBeTruthy();
    expect(screen.getByText("Page 2 of 3")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Next" }));
    fireEvent.click(screen.getByRole("button", { name: "Previous" }));
    expect(onPage.mock.calls).toEqual([[3], [1]]);
  });

  it("shows the empty state instead of an empty table", () => {
    render(
      <Table
        caption="Things"
        columns={columns}
        rows={[]}
        rowKey={(r) => r.id}
        empty={<EmptyState title="Nothing here yet." action={<a href="/x">Make one</a>} />}
      />,
    );
    expect(screen.queryByRole("table")).toBeNull();
    expect(screen.getByText("Nothing here yet.")).toBeTruthy();
    expect(screen.getByRole("link", { name: "Make one" })).toBeTruthy();
  });
});

describe("ConfirmDialog", () => {
  it("keeps the dialog open with the reason when the action fails", async () => {
    const onClose = vi.fn();
    const onConfirm = vi.fn(async () => {
      throw new Error("The project is not empty.");
    });
    render(<ConfirmDialog title="Delete p?" confirmLabel="Delete" danger onConfirm={onConfirm} onClose={onClose} />);
    fireEvent.click(screen.getByRole("button", { name: "Delete" }));
    await screen.findByText("The project is not empty.");
    expect(onClose).not.toHaveBeenCalled();
  });

  it("closes after the action succeeded, and on Cancel", async () => {
    const onClose = vi.fn();
    render(<ConfirmDialog title="Sure?" onConfirm={async () => {}} onClose={onClose} />);
    fireEvent.click(screen.getByRole("button", { name: "Confirm" }));
    await waitFor(() => expect(onClose).toHaveBeenCalledTimes(1));
    fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(onClose).toHaveBeenCalledTimes(2);
  });
});

describe("small parts", () => {
  it("copies to the clipboard and says so", async () => {
    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    render(<CopyButton text="docker pull x" what="the pull command" />);
    fireEvent.click(screen.getByRole("button", { name: "Copy the pull command" }));
    await screen.findByText("Copied");
    expect(writeText).toHaveBeenCalledWith("docker pull x");
  });

  it("shows an error's message as an alert", () => {
    render(<ErrorBanner error={new Error("Not found: no such project.")} />);
    expect(screen.getByRole("alert").textContent).toContain("Not found: no such project.");
  });
});
