from dataproc_faces.results.folders import SHARDS, TOP, folder_of


def test_a_photo_in_a_folder_belongs_to_its_top_level_folder() -> None:
    assert folder_of("2024/06/a.jpg") == "2024"
    assert folder_of("/trip/a.jpg") == "trip"


def test_photos_at_the_top_spread_over_stable_shards() -> None:
    keys = {folder_of(f"IMG_{i:05d}.JPG") for i in range(5000)}
    assert all(k.startswith(f"{TOP}/") for k in keys)
    assert len(keys) == SHARDS
    assert folder_of("IMG_00001.JPG") == folder_of("IMG_00001.JPG")
