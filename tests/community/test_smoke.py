def test_home_renders_for_member(web_member, member):
    response = web_member.get("/")
    assert response.status_code == 200
    assert member.display_name in response.content.decode()
