// The top navigation (Layout shows it; `admin: true` items to system administrators only).
export interface NavItem {
  href: string;
  label: string;
  admin?: boolean;
}

const NAV: NavItem[] = [
  { href: "/projects", label: "Projects" },
  { href: "/admin", label: "Administration", admin: true },
];

export function navItems(): NavItem[] {
  return NAV;
}
