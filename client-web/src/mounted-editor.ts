// What the page shell needs from either editor (text-editor.ts, rich-editor.ts).

/** An editor placed in the page: its element, its view (for window.quire) and a way to focus it. */
export interface MountedEditor {
  element: HTMLElement
  /** CodeMirror's EditorView or ProseMirror's: the browser tests read the text through it. */
  view: unknown
  focus: () => void
}
