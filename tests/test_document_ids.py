"""Two files of one name and different extensions are both indexed, each known by its whole
name; the old link to the shared name says where each went."""

from __future__ import annotations

from pathlib import Path

from index import Config, Embedder, build_index


def test_namesakes_are_both_served_and_the_old_link_points_to_them(
    tmp_path: Path, embedder: Embedder
) -> None:
    from service import create_app

    docs = tmp_path / "docs"
    (docs / "notes").mkdir(parents=True)
    (docs / "notes" / "path.md").write_text("# Paths\n\nA path joins folders with slashes.")
    (docs / "notes" / "path.html").write_text(
        "<html><head><title>Path</title></head><body><h1>Path</h1><p>The path module "
        "normalizes Windows and POSIX paths.</p></body></html>")
    config = Config(docs_dir=docs, index_dir=tmp_path / "index")
    report = build_index(config, embedder=embedder)
    assert not report.skipped
    client = create_app(config, embedder=embedder, watch=False).test_client()
    for doc_id in ("notes/path.md", "notes/path.html"):
        body = client.get(f"/api/documents/{doc_id}").get_json()
        assert (body["id"], body["source"]) == (doc_id, doc_id)
        assert client.get(f"/documents/{doc_id}").status_code == 200
    hits = client.get("/api/search?q=path&k=10").get_json()["results"]
    assert {h["document"]["id"] for h in hits} == {"notes/path.md", "notes/path.html"}
    old = client.get("/api/documents/notes/path")
    assert old.status_code == 404
    assert old.get_json()["error"]["message"] == (
        "no document with id 'notes/path': two files share that name; it is now "
        "'notes/path.html' or 'notes/path.md'")
    page = client.get("/documents/notes/path")
    assert page.status_code == 404 and "it is now" in page.get_data(as_text=True)
