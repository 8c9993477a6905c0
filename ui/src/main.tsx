import { render } from "preact";
import { App } from "./app";
import { interceptLinks } from "./router";
import { load } from "./session";
import { applyTheme, chosenTheme } from "./theme";
import "./styles.css";

applyTheme(chosenTheme());
const root = document.getElementById("app") as HTMLElement;
interceptLinks(document.body);
render(<App />, root);
void load();
