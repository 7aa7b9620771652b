// The one Y.Text the editor edits. Quire's interop tests use the same root name, and the text
// export is asked for it by name (`format=text&name=text`), so a download matches the editor.
export const sharedTextName = 'text'
